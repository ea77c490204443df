using Microsoft.Extensions.Logging;
using Strata.Contracts;
using Strata.Contracts.Drivers;
using Strata.Control.Projects;
using Strata.Policy.Admission;
using Strata.Store;

namespace Strata.Control;

public sealed partial class InstanceService
{
    // ---------------------------------------------------------------- create

    public async Task<InstanceRecord> CreateAsync(InstanceSpec requested, bool start, string project, CancellationToken cancellationToken)
    {
        var spec = SpecValidator.Normalize(requested);
        var projectRecord = _options.Projects is { } projects ? projects.Get(project) : null;
        var requestedTier = SpecValidator.ParseTier(spec.Tier, _options.AllowFakeTier);
        if (projectRecord is not null && requestedTier is { } named)
        {
            // A named tier is checked before the advisor, so a refusal is the project's 403, not a placement error.
            ProjectAdmission.CheckRestrictions(project, projectRecord.Restrictions, spec, named);
        }
        var placement = _options.TierChooser?.Invoke(spec, project);
        var tier = placement is not null && TierNames.TryParse(placement.Tier, out var placed) ? placed : requestedTier ?? ChooseTier(spec);
        if (projectRecord is not null)
        {
            ProjectAdmission.CheckRestrictions(project, projectRecord.Restrictions, spec, tier);
        }
        var driver = _drivers.Get(tier);
        if (tier is not (Tier.Container or Tier.Fake) && (spec.Ports is { Count: > 0 } || spec.Network is not (null or "none" or "host")))
        {
            // Containers, sandboxes and VMs join networks (docs/network.md); never ignore the request silently elsewhere.
            if (tier is not (Tier.Sandbox or Tier.Vm))
            {
                throw StrataException.Invalid(spec.Ports is { Count: > 0 } ? "ports" : "network",
                    $"the {tier.ToName()} tier does not join networks yet; networks and published ports work on the container, sandbox and vm tiers");
            }
        }
        var name = spec.Name ?? GenerateName(project);
        RunTimeline.Mark("spec validated");
        spec = spec with { Name = name, Tier = tier.ToName() };

        var id = Guid.NewGuid().ToString("N");
        var entry = new Entry(new InstanceRecord
        {
            Id = id,
            Project = project,
            Name = name,
            Tier = tier,
            State = InstanceState.Creating,
            Spec = spec,
            CreatedAt = _time.GetUtcNow(),
            Revision = 1,
            Placement = placement,
        })
        {
            // An auto-removed instance on a tier that cannot outlive the daemon (wasm runs inside it) has
            // nothing to reconcile after a restart, so it is never written to the store at all.
            Ephemeral = spec.AutoRemove && !driver.Capabilities.SurvivesDaemonRestart,
        };
        var directory = InstanceDirectory(id);
        await entry.Lock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            Admit(entry, projectRecord);
            DriverHandle handle;
            try
            {
                // The name is reserved in memory (_names); the record is persisted once, with the driver's
                // handle, so a crash can never leave a stored instance whose resources nobody knows about.
                // A crash during the driver's create leaves only a directory, swept at the next start.
                // An ephemeral instance gets none: its driver keeps it in memory (and creates it if it needs one).
                if (!entry.Ephemeral)
                {
                    // Private (docs/security.md): it holds the environment, the output and a container's root file system.
                    Directory.CreateDirectory(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
                }
                handle = await driver.CreateAsync(new CreateRequest
                {
                    InstanceId = id,
                    Name = name,
                    Project = project,
                    Directory = directory,
                    Spec = spec,
                }, cancellationToken).ConfigureAwait(false);
                RunTimeline.Mark("driver create");
            }
            catch (Exception e)
            {
                // Nothing half-created: forget the instance entirely and surface the driver's error.
                LogCreateFailed(name, e.Message);
                Forget(entry, directory);
                throw;
            }

            entry.Record = entry.Record with { State = InstanceState.Created, Handle = handle, Revision = 2 };
            try
            {
                if (!entry.Ephemeral)
                {
                    await _store.InsertAsync(entry.Record, CancellationToken.None).ConfigureAwait(false);
                    RunTimeline.Mark("store insert");
                }
            }
            catch
            {
                await driver.DeleteAsync(handle, CancellationToken.None).ConfigureAwait(false);
                Forget(entry, directory);
                throw;
            }
            _events.Publish("created", View(entry.Record));
        }
        finally
        {
            entry.Lock.Release();
        }

        if (!start)
        {
            return entry.Record;
        }
        try
        {
            return await StartAsync(project, name, cancellationToken).ConfigureAwait(false);
        }
        catch (StrataException) when (spec.AutoRemove)
        {
            await DeleteAsync(project, name, force: true, CancellationToken.None).ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>The tier for <c>tier: auto</c> when no tier chooser (the advisor) is configured.</summary>
    private static Tier ChooseTier(InstanceSpec spec)
    {
        if (spec.Image is null)
        {
            return Tier.Process;
        }
        if (spec.Image.EndsWith(".wasm", StringComparison.OrdinalIgnoreCase) || spec.Image.EndsWith(".wat", StringComparison.OrdinalIgnoreCase))
        {
            return Tier.Wasm; // a module file can only run on the wasm tier
        }
        return Tier.Container; // an OCI image with no stated needs: the article's default answer
    }

    private void Forget(Entry entry, string directory)
    {
        _entries.TryRemove(entry.Record.Id, out _);
        _names.TryRemove(Key(entry.Record.Project, entry.Record.Name), out _);
        TryDeleteDirectory(directory);
    }

    /// <summary>
    /// Admission: reserves the name and counts the instance against its project's quota in one step under
    /// <see cref="_admission"/>, so concurrent creates can never overshoot. From here the entry counts as usage
    /// (while the driver creates it, too) until <see cref="Forget"/> or its removal takes it out again.
    /// </summary>
    private void Admit(Entry entry, ProjectRecord? project)
    {
        var record = entry.Record;
        lock (_admission)
        {
            if (project is not null)
            {
                ProjectAdmission.CheckQuota(record.Project, project.Quota, Usage(record.Project), record.Spec);
            }
            if (!_names.TryAdd(Key(record.Project, record.Name), record.Id))
            {
                throw StrataException.Conflict($"an instance named '{record.Name}' exists already in project '{record.Project}'; choose another name or remove it first");
            }
            _entries[record.Id] = entry;
        }
    }

    /// <summary>What the project's instances count for against its quota: every instance that exists, in any state.</summary>
    public ProjectUsage Usage(string project)
    {
        var usage = new ProjectUsage();
        foreach (var entry in _entries.Values)
        {
            var r = entry.Record;
            if (r.Project == project && r.State != InstanceState.Deleted)
            {
                usage = ProjectAdmission.Add(usage, r.Spec);
            }
        }
        return usage;
    }

    private string GenerateName(string project)
    {
        for (var attempt = 0; ; attempt++)
        {
            var name = NameGenerator.Next(Random.Shared);
            if (!_names.ContainsKey(Key(project, name)) || attempt > 20)
            {
                return name;
            }
        }
    }
}
