using KvmSharp.Kernel;

namespace KvmSharp.Tests;

/// <summary>
/// The kernels every conformance test runs on: the same test body, the same
/// expected results. Host skips only where /dev/kvm cannot be opened; on the
/// project's machines both run.
/// </summary>
public static class Kernels
{
    public static readonly string[] Names = ["host", "soft"];

    public static TheoryData<string> All => new(Names);

    /// <summary>Kernels with an in-kernel irqchip (KVM_CAP_IRQCHIP): both.</summary>
    public static TheoryData<string> WithIrqchip => All;

    public static Kvm Open(string name)
    {
        if (name == "host" && new HostKernel() is { } host && !host.IsAvailable())
            Assert.Skip($"{host.DevicePath} cannot be opened on this machine.");
        return Kvm.Open(KvmSharp.Vmm.KernelChoice.Open(name));
    }
}
