using System.Text.Json;
using Strata.Contracts;
using Strata.Control;
using Strata.Control.Operations;

namespace Strata.Daemon.Api;

/// <summary>
/// <c>POST /v1/instances?wait=false</c>: the create (and start) runs as an operation of the caller's project, with a
/// progress item per step (image, layers, disk, template, boot, start ...) and an <see cref="InstanceInfo"/> as its
/// result; cancelling it removes whatever the create had made (<see cref="InstanceService.CreateWithProgressAsync"/>).
/// </summary>
public static class CreateOperations
{
    public const string Kind = "instance-create";

    public static Operation Start(OperationRegistry operations, InstanceService service, CreateInstanceRequest request, string project)
    {
        var spec = request.Spec;
        // Input that is wrong whatever the tier is a 400 now, before there is an operation to look at.
        _ = SpecValidator.Normalize(spec);
        // The name is the target when the caller gave one; a generated name is known only once the create has it.
        var target = spec.Name ?? spec.Image ?? "instance";
        return operations.Start(Kind, target, project, async (op, ct) =>
        {
            var steps = new OperationSteps(op);
            var created = await service.CreateWithProgressAsync(spec, request.Start, project, steps, ct).ConfigureAwait(false);
            steps.Complete($"{created.State.ToName()} {created.Name}");
            return JsonSerializer.SerializeToElement(InstanceEndpoints.ToInfo(created), StrataJsonContext.Default.InstanceInfo);
        });
    }
}
