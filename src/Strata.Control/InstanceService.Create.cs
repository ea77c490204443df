using Microsoft.Extensions.Logging;
using Strata.Contracts;
using Strata.Contracts.Drivers;
using Strata.Contracts.Host;
using Strata.Control.Projects;
using Strata.Policy.Admission;
using Strata.Store;

namespace Strata.Control;

public sealed partial class InstanceService
{
    // ---------------------------------------------------------------- create

    /// <summary>
    /// Creates an instance and, with <paramref name="start"/>, starts it. An auto-removed instance whose start fails
    /// is removed again (<see cref="StartOrRemoveAsync"/>), so a failed <c>run --rm</c> leaves nothing behind.
    /// </summary>
    public async Task<InstanceRecord> CreateAsync(InstanceSpec requested, bool start, string project, CancellationToken cancellationToken)
    {
        var created = await CreateCoreAsync(requested, project, cancellationToken).ConfigureAwait(false);
        return start ? await StartOrRemoveAsync(created, cancellationToken).ConfigureAwait(false) : created;
    }

    /// <summary>
    /// A create (and, with <paramref name="start"/>, start) that runs as an operation: every step the driver and the
    /// image store take is reported to <paramref name="progress"/> in order, and a cancel (<paramref name="cancellationToken"/>)
    /// at any step leaves nothing: before the instance exists the create's own undo steps run; once it exists (during
    /// the start) it is removed again. A start that fails on its own keeps the failed instance, as
    /// <see cref="CreateAsync"/> does, so its reason and output can be read.
    /// </summary>
    public async Task<InstanceRecord> CreateWithProgressAsync(InstanceSpec requested, bool start, string project, IProgress<CreateStep> progress, CancellationToken cancellationToken)
    {
        using var steps = CreateProgress.Begin(progress);
        var created = await CreateCoreAsync(requested, project, cancellationToken).ConfigureAwait(false);
        await using var revert = new Revert(e => LogBackgroundFailure(created.Name, "remove a cancelled create", e));
        revert.AddAsync(() => RemoveCancelledAsync(created));
        try
        {
            if (start)
            {
                CreateProgress.Report("start", "starting");
                created = await StartOrRemoveAsync(created, cancellationToken).ConfigureAwait(false);
            }
            // A driver that finished its step despite the cancel: the caller asked for nothing to stay.
            cancellationToken.ThrowIfCancellationRequested();
        }
        catch (Exception) when (!cancellationToken.IsCancellationRequested)
        {
            revert.Success();
            throw;
        }
        revert.Success();
        return created;
    }

    private async Task RemoveCancelledAsync(InstanceRecord created)
    {
        try
        {
            await DeleteAsync(created.Project, created.Name, force: true, CancellationToken.None).ConfigureAwait(false);
        }
        catch (StrataException gone) when (gone.Kind == ErrorKind.NotFound)
        {
            // An auto-removed instance whose start failed is gone already.
        }
    }

    /// <summary>
    /// An attached run (<c>strata run</c> without <c>-d</c>): create, hold the instance, start. The lease keeps an
    /// auto-removed instance (and its output) until the caller has read its exit and disposes it. A failed start
    /// releases the lease and, for an auto-removed instance, removes it before the error reaches the caller.
    /// </summary>
    public async Task<AttachLease> RunAttachedAsync(InstanceSpec requested, string project, CancellationToken cancellationToken)
    {
        var created = await CreateCoreAsync(requested, project, cancellationToken).ConfigureAwait(false);
        var lease = Attach(project, created.Name);
        await using var revert = new Revert();
        revert.AddAsync(async () => await lease.DisposeAsync().ConfigureAwait(false));
        await StartOrRemoveAsync(created, cancellationToken, revert).ConfigureAwait(false);
        revert.Success();
        return lease;
    }

    /// <summary>
    /// Starts a just-created instance. When the start fails and the instance is auto-removed, the undo steps of
    /// <paramref name="revert"/> (an attached run's lease) run first, then the instance is removed: one place for
    /// "delete on a failed start".
    /// </summary>
    private async Task<InstanceRecord> StartOrRemoveAsync(InstanceRecord created, CancellationToken cancellationToken, Revert? revert = null)
    {
        try
        {
            return await StartAsync(created.Project, created.Name, cancellationToken).ConfigureAwait(false);
        }
        catch (StrataException) when (created.Spec.AutoRemove)
        {
            if (revert is not null)
            {
                // Releasing an attached run's lease may remove the failed instance already (auto-remove).
                await revert.UndoAsync().ConfigureAwait(false);
            }
            try
            {
                await DeleteAsync(created.Project, created.Name, force: true, CancellationToken.None).ConfigureAwait(false);
            }
            catch (StrataException gone) when (gone.Kind == ErrorKind.NotFound)
            {
                // Removed meanwhile: the caller gets the start's error, not this one.
            }
            throw;
        }
    }

    private async Task<InstanceRecord> CreateCoreAsync(InstanceSpec requested, string project, CancellationToken cancellationToken)
    {
        var spec = SpecValidator.Normalize(requested);
        var projectRecord = _options.Projects is { } projects ? projects.Get(project) : null;
        // The tier is parsed once, here; the placement gets the parsed value.
        var requestedTier = SpecValidator.ParseTier(spec.Tier, _options.AllowFakeTier);
        if (projectRecord is not null && requestedTier is { } named)
        {
            // A named tier is checked before placement, so a refusal is the project's 403, not a placement error.
            ProjectAdmission.CheckRestrictions(project, projectRecord.Restrictions, spec, named);
        }
        var placement = _options.Placement?.Place(spec, requestedTier, project);
        var tier = requestedTier ?? (placement is not null ? PlacedTier(placement) : ChooseTier(spec));
        if (projectRecord is not null && requestedTier is null)
        {
            // A tier the placement chose is checked once, now that it is known.
            ProjectAdmission.CheckRestrictions(project, projectRecord.Restrictions, spec, tier);
        }
        var driver = _drivers.Get(tier);
        if (!driver.Capabilities.Networks && (spec.Ports is { Count: > 0 } || spec.Network is not (null or "none" or "host")))
        {
            // Never ignore a network request silently on a tier that joins none (docs/network.md).
            var networked = TierNames.UserTiers.Where(t => _drivers.Of(t)?.Networks == true).Select(t => t.ToName());
            throw StrataException.Invalid(spec.Ports is { Count: > 0 } ? "ports" : "network",
                $"the {tier.ToName()} tier does not join networks; networks and published ports work on the {string.Join(", ", networked)} tiers");
        }
        if ((spec.Tty || spec.Stdin) && tier != Tier.Container)
        {
            // Only the container tier gives the main process a terminal or input; never dropped silently.
            throw StrataException.Invalid(spec.Tty ? "tty" : "stdin",
                $"the {tier.ToName()} tier gives the main process no {(spec.Tty ? "terminal" : "input")}; use the container tier, or 'exec -it' for an interactive command");
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
            // Nothing half-created: each step below registers its undo; a failure forgets the instance entirely
            // and surfaces the step's own error.
            await using var revert = new Revert(e => LogBackgroundFailure(name, "undo a failed create", e));
            revert.Add(() => Forget(entry, directory));
            // The name is reserved in memory (_names); the record is persisted once, with the driver's
            // handle, so a crash can never leave a stored instance whose resources nobody knows about.
            // A crash during the driver's create leaves only a directory, swept at the next start.
            // An ephemeral instance gets none: its driver keeps it in memory (and creates it if it needs one).
            if (!entry.Ephemeral)
            {
                // Private (docs/security.md): it holds the environment, the output and a container's root file system.
                Directory.CreateDirectory(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            }
            DriverHandle handle;
            try
            {
                handle = await driver.CreateAsync(new CreateRequest
                {
                    InstanceId = id,
                    Name = name,
                    Project = project,
                    Directory = directory,
                    Spec = spec,
                }, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e)
            {
                LogCreateFailed(name, e.Message);
                throw;
            }
            RunTimeline.Mark("driver create");
            revert.AddAsync(() => driver.DeleteAsync(handle, CancellationToken.None));

            entry.Record = entry.Record with { State = InstanceState.Created, Handle = handle, Revision = 2 };
            if (!entry.Ephemeral)
            {
                await _store.InsertAsync(entry.Record, CancellationToken.None).ConfigureAwait(false);
                RunTimeline.Mark("store insert");
            }
            revert.Success();
            _events.Publish("created", View(entry.Record));
            return entry.Record;
        }
        finally
        {
            entry.Lock.Release();
        }
    }

    private static Tier PlacedTier(Placement placement) =>
        TierNames.TryParse(placement.Tier, out var tier) ? tier
        : throw new StrataException(ErrorKind.Internal, $"internal error: the placement chose '{placement.Tier}', which is not a tier");

    /// <summary>The tier for <c>tier: auto</c> when no placement (the advisor) is configured.</summary>
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
                usage = ProjectAdmission.Add(usage, entry.ResizeReservation is { } asked ? r.Spec with { Resources = asked } : r.Spec);
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
