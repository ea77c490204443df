using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging;
using Microsoft.Playwright;
using Strata.Client;
using Strata.Contracts;
using Strata.Daemon;
using Strata.Testing;
using static Microsoft.Playwright.Assertions;

namespace Strata.Dashboard.Tests;

/// <summary>/ui on a TLS listener: the page, its API calls and its event stream over HTTPS only.</summary>
[Collection(DashboardCollection.Name)]
public sealed class DashboardTlsTests(DashboardFixture fx)
{
    [SkippableFact]
    public async Task Dashboard_OnATlsListener_SignsInAndFollowsTheEventStreamOverHttps()
    {
        fx.RequireBrowser();
        using var dir = new TempDirectory("strata-ui-tls");
        using var key = RSA.Create(2048);
        var request = new CertificateRequest("CN=127.0.0.1", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var san = new SubjectAlternativeNameBuilder();
        san.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(san.Build());
        using var cert = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
        await File.WriteAllTextAsync(dir.Combine("cert.pem"), cert.ExportCertificatePem());
        await File.WriteAllTextAsync(dir.Combine("key.pem"), key.ExportPkcs8PrivateKeyPem());
        var port = DashboardFixture.FreePort();
        await using var daemon = await DaemonHost.StartAsync(new DaemonOptions
        {
            Root = dir.Combine("root"),
            Socket = dir.Combine("s.sock"),
            Listen = new IPEndPoint(IPAddress.Loopback, port),
            TlsCertificate = dir.Combine("cert.pem"),
            TlsKey = dir.Combine("key.pem"),
            EnableFakeTier = true,
            Supervisor = TestEnvironment.Supervisor,
        }, l => l.SetMinimumLevel(LogLevel.Warning));
        using var admin = new StrataClient(new ClientOptions { Socket = dir.Combine("s.sock") });
        await admin.CreateProjectAsync(new CreateProjectRequest { Name = "t", Restrictions = new ProjectRestrictions { AllowedTiers = ["fake"] } });
        var token = (await admin.CreateTokenAsync("t", ProjectRoles.Operator)).Token!;

        // Plain HTTP on the TLS port serves nothing, not even the page.
        using (var plain = new HttpClient { Timeout = TimeSpan.FromSeconds(10) })
        {
            await Assert.ThrowsAnyAsync<Exception>(() => plain.GetAsync($"http://127.0.0.1:{port}/ui/"));
        }

        var context = await fx.Browser!.NewContextAsync(new BrowserNewContextOptions { IgnoreHTTPSErrors = true });
        var page = await context.NewPageAsync();
        await page.GotoAsync($"https://127.0.0.1:{port}/ui/");
        await page.GetByLabel("API token").FillAsync(token);
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
        await Expect(page.Locator("[data-role='operator']")).ToContainTextAsync("operator of project t");
        await page.GetByRole(AriaRole.Link, new() { Name = "Instances" }).ClickAsync();
        await Expect(page.Locator("#instances-count")).ToHaveTextAsync("0 of 0 instances");
        using var tls = new StrataClient(new ClientOptions { Host = new Uri($"https://127.0.0.1:{port}"), Token = token, TlsCaFile = dir.Combine("cert.pem") });
        await tls.CreateAsync(new InstanceSpec { Name = "over-tls", Tier = "fake", Args = ["sleep"] });
        await Expect(page.Locator("tr[data-name='over-tls']")).ToHaveAttributeAsync("data-state", "running");
        Assert.StartsWith("https://", page.Url, StringComparison.Ordinal);
        await tls.DeleteAsync("over-tls", force: true);
        await context.CloseAsync();
    }
}
