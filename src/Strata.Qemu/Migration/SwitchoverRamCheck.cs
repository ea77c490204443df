using System.Globalization;
using System.Text.Json.Nodes;
using Strata.Contracts;
using Strata.Qemu.Qmp;

namespace Strata.Qemu.Migration;

/// <summary>
/// A check of a live migration's result, for tests and benches: a target (its QEMU started with <c>-S</c>, so it stays
/// paused once the stream is loaded) whose confirmation first dumps the guest's physical memory on both sides with
/// <c>pmemsave</c> (the source stopped in <c>postmigrate</c>, the target paused: both hold the memory of the
/// switchover), lists the 4 KiB pages that differ, and only then lets the target run. A write the migration lost (a page
/// the guest changed after QEMU last sent it) shows up here whether or not the guest would later trip over it.
/// </summary>
public sealed class SwitchoverRamCheck(IncomingVm inner, QmpClient source, long memoryBytes, string scratchDirectory) : IMigrationTarget
{
    public const int PageSize = 4096;

    /// <summary>The guest-physical page numbers whose content differs between the two sides; filled by the confirmation.</summary>
    public List<long> DifferingPages { get; } = [];

    /// <summary>Whether the comparison ran (the migration got as far as the confirmation).</summary>
    public bool Compared { get; private set; }

    public string RamUri => inner.RamUri;
    public MigrationChannel? Nbd => inner.Nbd;
    public IReadOnlyList<string> Disks => inner.Disks;
    public Task Exited => inner.Exited;
    public Task DiscardAsync() => inner.DiscardAsync();

    /// <summary>The target's argv for this check: the planned one with <c>-S</c> (QEMU does not start the guest after the load).</summary>
    public static QemuLaunchPlan Paused(QemuLaunchPlan plan)
    {
        ArgumentNullException.ThrowIfNull(plan);
        return plan with { Argv = [.. plan.Argv, "-S"] };
    }

    /// <summary>The differing pages as guest-physical addresses, for a message.</summary>
    public string Describe(int max = 16) => string.Join(", ", DifferingPages.Take(max).Select(p => "0x" + (p * PageSize).ToString("x", CultureInfo.InvariantCulture)))
        + (DifferingPages.Count > max ? $" and {DifferingPages.Count - max} more" : "");

    public async Task ConfirmRunningAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        var target = await inner.Vm.GetQmpAsync(cancellationToken).ConfigureAwait(false);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        string status;
        while ((status = await StatusAsync(target, deadline.Token).ConfigureAwait(false)) != "paused")
        {
            if (status is not ("inmigrate" or "finish-migrate" or "restore-vm" or "prelaunch"))
            {
                throw new StrataException(ErrorKind.Internal, $"the target is '{status}' after the load, not paused; was it started with -S?");
            }
            await Task.Delay(10, deadline.Token).ConfigureAwait(false);
        }
        Directory.CreateDirectory(scratchDirectory);
        var sourceDump = Path.Combine(scratchDirectory, "source.ram");
        var targetDump = Path.Combine(scratchDirectory, "target.ram");
        try
        {
            await DumpAsync(source, sourceDump, deadline.Token).ConfigureAwait(false);
            await DumpAsync(target, targetDump, deadline.Token).ConfigureAwait(false);
            await using var a = File.OpenRead(sourceDump);
            await using var b = File.OpenRead(targetDump);
            var x = new byte[PageSize];
            var y = new byte[PageSize];
            for (long page = 0; page < memoryBytes / PageSize; page++)
            {
                await a.ReadExactlyAsync(x, deadline.Token).ConfigureAwait(false);
                await b.ReadExactlyAsync(y, deadline.Token).ConfigureAwait(false);
                if (!x.AsSpan().SequenceEqual(y))
                {
                    DifferingPages.Add(page);
                }
            }
            Compared = true;
        }
        finally
        {
            File.Delete(sourceDump);
            File.Delete(targetDump);
        }
        await target.ExecuteAsync("cont", null, deadline.Token).ConfigureAwait(false);
        await inner.ConfirmRunningAsync(timeout, cancellationToken).ConfigureAwait(false);
    }

    private Task DumpAsync(QmpClient qmp, string file, CancellationToken ct) =>
        qmp.ExecuteAsync("pmemsave", new JsonObject { ["val"] = 0, ["size"] = memoryBytes, ["filename"] = file }, ct);

    private static async Task<string> StatusAsync(QmpClient qmp, CancellationToken ct) =>
        (await qmp.ExecuteAsync("query-status", null, ct).ConfigureAwait(false)).GetProperty("status").GetString() ?? "";
}
