using System.Net;
using System.Text.Json;
using Strata.Contracts;
using Xunit;

namespace Strata.Testing;

/// <summary>Checks on the API's error bodies.</summary>
public static class ProblemDocuments
{
    /// <summary>Asserts <paramref name="response"/> is a 400 carrying a problem document with a detail; returns the document.</summary>
    public static async Task<ProblemDetails> BadRequestAsync(HttpResponseMessage response)
    {
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = JsonSerializer.Deserialize(await response.Content.ReadAsStringAsync(), StrataJsonContext.Default.ProblemDetails)!;
        Assert.Equal(400, problem.Status);
        Assert.False(string.IsNullOrWhiteSpace(problem.Detail));
        return problem;
    }
}
