using KvmSharp.Kernel;
using KvmSharp.Soft;

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
        switch (name)
        {
            case "host":
                var host = new HostKernel();
                if (!host.IsAvailable())
                    Assert.Skip($"{host.DevicePath} cannot be opened on this machine.");
                return Kvm.Open(host);
            case "soft":
                return Kvm.Open(new SoftKernel());
            default:
                throw new ArgumentException($"Unknown kernel {name}.", nameof(name));
        }
    }
}
