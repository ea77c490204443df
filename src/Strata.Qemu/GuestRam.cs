using System.Globalization;
using System.Text.Json;

namespace Strata.Qemu;

/// <summary>
/// The size of a guest's RAM block as QEMU is given it: the MiB the user asked for plus <see cref="PadKiB"/>.
/// <para>
/// Why the pad: QEMU before 9.0 (Debian's 7.2 here) syncs the migration dirty bitmap of a RAM block whose length is a
/// multiple of 64 pages (256 KiB) with a fast path that clears the bits without resetting TCG's TLB ("physmem: Fix
/// migration dirty bitmap coherency with TCG memory access", upstream in 9.0). A store through a TLB entry made while
/// its page was dirty then escapes the dirty log, and a live move or a running save loses that write: the moved guest's
/// kernel finds a slab freelist or a run queue broken at its first tick on the target. Any other length takes the
/// page-by-page path, which resets the TLB for every page it clears. Measured with <c>Strata.Bench.Migration stress
/// --tier sandbox --fresh-template --burners 8</c> at load ~10 (docs/move.md, "Switchover memory consistency").
/// </para>
/// <para>
/// The guest sees 8 KiB more RAM than asked; what Strata reports and limits stays the MiB asked
/// (<see cref="Visible"/>). 8 KiB, because QEMU rounds <c>-m</c> up to 8 KiB.
/// </para>
/// </summary>
public static class GuestRam
{
    public const int PadKiB = 8;

    /// <summary>The RAM block's length in bytes for a guest of <paramref name="memoryMiB"/> MiB.</summary>
    public static long Bytes(int memoryMiB) => (memoryMiB * 1024L * 1024) + (PadKiB * 1024L);

    /// <summary>The size as QEMU's <c>-m</c> and memory backends take it (in KiB: <c>262152K</c> for 256 MiB).</summary>
    public static string Size(int memoryMiB) => ((memoryMiB * 1024L) + PadKiB).ToString(CultureInfo.InvariantCulture) + "K";

    /// <summary>
    /// The memory a guest has as Strata reports it, from the balloon's <c>actual</c> (which counts the pad): at most the
    /// <paramref name="askedBytes"/> it was made with.
    /// </summary>
    public static long Visible(long balloonActual, long askedBytes) => Math.Min(balloonActual, askedBytes);

    /// <summary>The memory a guest has from QMP <c>query-balloon</c>'s answer (<see cref="Visible"/>); without one, the <paramref name="askedBytes"/>.</summary>
    public static long Visible(JsonElement queryBalloon, long askedBytes) =>
        queryBalloon.TryGetProperty("actual", out var a) ? Visible(a.GetInt64(), askedBytes) : askedBytes;
}
