using Strata.Contracts;
using Strata.Control;
using Strata.Images;
using Strata.Policy.Advisor;

namespace Strata.Daemon.Advice;

/// <summary>
/// The tier advisor with this host's facts: which tiers the drivers found usable, the host's OS and
/// architecture, what an image is (the image store knows better than the reference), measured start
/// costs when <c>strata bench</c> has left them, and whether KVM is usable. <see cref="Place"/> is the
/// daemon's <see cref="IInstancePlacement"/>.
/// </summary>
public sealed class HostAdvisor(DriverRegistry drivers, ImageStore images, DaemonOptions options, Strata.Control.Projects.ProjectService projects) : IInstancePlacement
{
    /// <summary>Reason id for a tier named in the request rather than chosen by the advisor.</summary>
    public const string RequestedRule = "T0-requested";

    private readonly Lazy<bool> _kvm = new(ProbeKvm);

    public AdvisorContext Context(string? image, string? project = null)
    {
        var tiers = TierNames.UserTiers.Select(t =>
        {
            var f = drivers.Fingerprint(t);
            return new TierAvailability(t.ToName(), drivers.IsAvailable(t), f.Reason, f.Engine);
        });
        var host = Api.HostFacts.Read();
        return new AdvisorContext
        {
            HostOs = host.Os,
            HostArch = host.Arch,
            Image = image,
            ImageKind = KindFromStore(image),
            Tiers = AdvisorContext.AvailabilityFrom(tiers),
            Costs = HostCosts.Load(options.Root, out _),
            HardwareAccelerated = _kvm.Value,
            Project = project is not null && projects.Find(project) is { } p
                ? Strata.Policy.Admission.ProjectAdmission.ToOverrides(p.Name, p.Restrictions)
                : null,
        };
    }

    /// <summary>
    /// The placement of a spec about to be created: the advisor's choice for <c>tier: auto</c>, or the named
    /// tier after checking it against the spec's requirements. Throws when no tier fits.
    /// </summary>
    public Placement Place(InstanceSpec spec, string? project = null) => Place(spec, SpecValidator.ParseTier(spec.Tier, options.EnableFakeTier), project);

    /// <inheritdoc cref="Place(InstanceSpec, string?)"/>
    /// <param name="requested">The tier the spec names, already parsed (null: auto).</param>
    public Placement Place(InstanceSpec spec, Tier? requested, string? project)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var req = ContractMapping.ToRequirements(spec.Requirements);
        if (requested is { } named)
        {
            return PlaceNamed(named, spec.Requirements is not null, req, spec.Image, project);
        }
        if (string.IsNullOrWhiteSpace(spec.Image) && req.Isolation != IsolationNeed.None)
        {
            throw StrataException.Invalid("tier",
                "no tier and no image given: a host command runs only on the process tier, and tier auto never runs anything straight on the host unless asked; " +
                "pass --tier process (\"tier\": \"process\"), or --isolation none (\"requirements\": {\"isolation\": \"none\"}) to let the advisor place it there");
        }
        var result = TierAdvisor.Evaluate(req, Context(spec.Image, project));
        return result.Advice is { } advice ? ContractMapping.ToPlacement(advice) : throw result.Problem!.ToException();
    }

    private Placement PlaceNamed(Tier tier, bool hasRequirements, Requirements req, string? image, string? project)
    {
        if (tier == Tier.Fake || !hasRequirements)
        {
            return new Placement
            {
                Tier = tier.ToName(),
                ChosenBy = "request",
                Reasons = [new(RequestedRule, $"tier {tier.ToName()} was named in the request; it gave no requirements, so the advisor did not check it")],
            };
        }
        var context = Context(image, project);
        var broken = TierAdvisor.Violations(req, context, tier);
        var advice = TierAdvisor.Evaluate(req, context);
        var advisorWould = advice.Advice is { } a ? $"; with tier auto the advisor picks {a.Chosen.ToName()} here" : "";
        if (broken.Count > 0)
        {
            throw StrataException.Invalid("tier",
                $"tier {tier.ToName()} does not meet the requirements: {string.Join("; ", broken.Select(b => $"[{b.RuleId}] {b.Text}"))}{advisorWould}");
        }
        var reasons = new List<PlacementReason>
        {
            new(RequestedRule, $"tier {tier.ToName()} was named in the request and meets every requirement{advisorWould}"),
        };
        return new Placement
        {
            Tier = tier.ToName(),
            ChosenBy = "request",
            Reasons = reasons,
            Cost = context.CostOf(tier).ToString(),
        };
    }

    /// <summary>Advice for one workload (the <c>/v1/advise</c> and <c>/v1/apply</c> item), or its problem.</summary>
    public AdviseItem Advise(string name, string? project, InstanceSpec spec)
    {
        try
        {
            var placement = Place(spec, project);
            return new AdviseItem
            {
                Name = name,
                Project = project,
                Tier = placement.Tier,
                ChosenBy = placement.ChosenBy,
                Reasons = placement.Reasons,
                RunnersUp = placement.RunnersUp,
                Fallback = placement.Fallback,
                PinCpus = placement.PinCpus,
                Cost = placement.Cost,
                Resources = spec.Resources,
            };
        }
        catch (StrataException e)
        {
            return new AdviseItem { Name = name, Project = project, Problem = Api.ProblemMapping.ToProblem(e), Resources = spec.Resources };
        }
    }

    private Strata.Policy.Advisor.ImageKind? KindFromStore(string? image)
    {
        if (string.IsNullOrWhiteSpace(image) || ImageKinds.Guess(image) != Strata.Policy.Advisor.ImageKind.Oci)
        {
            return null; // no image, or a file whose extension says what it is
        }
        try
        {
            return images.Inspect(image).Image.Kind switch
            {
                Strata.Images.ImageKind.Wasm => Strata.Policy.Advisor.ImageKind.Wasm,
                _ => Strata.Policy.Advisor.ImageKind.Oci,
            };
        }
        catch (StrataException)
        {
            return null; // not in the store (yet): the reference decides
        }
    }

    /// <summary>KVM counts only when /dev/kvm opens read-write for this process (the sandbox needs exactly that).</summary>
    private static bool ProbeKvm()
    {
        try
        {
            using var kvm = new FileStream("/dev/kvm", FileMode.Open, FileAccess.ReadWrite);
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }
}
