using Strata.Qemu;

namespace Strata.Node.Guest;

/// <summary>
/// The accelerator and CPU model a guest (vm or sandbox) runs with, as its instance's details show them
/// (<c>accelerator</c>, <c>cpuModel</c>): what a live move by node name checks the target against
/// (docs/cluster.md "CPU baseline").
/// </summary>
public static class GuestCpuDetails
{
    public const string AcceleratorKey = "accelerator";
    public const string ModelKey = "cpuModel";

    /// <summary>The <c>-cpu</c> model a guest has: the named model or <c>host</c> under KVM, QEMU's default (<c>qemu64</c>) under TCG.</summary>
    public static string Model(string accel, string? cpuModel) =>
        accel == Accelerators.Kvm ? cpuModel ?? "host" : "qemu64";

    /// <summary>Adds both details to <paramref name="data"/> (a handle's) and returns it.</summary>
    public static Dictionary<string, string> Add(Dictionary<string, string> data, string accel, string? cpuModel)
    {
        data[AcceleratorKey] = accel;
        data[ModelKey] = Model(accel, cpuModel);
        return data;
    }

    /// <summary>The named model from the details' <see cref="Model"/> (null: <c>host</c>, or QEMU's default under TCG).</summary>
    public static string? NamedModel(string? shown) => shown is null or "host" or "qemu64" ? null : shown;
}
