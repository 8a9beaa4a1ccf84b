using KvmSharp.Kernel;
using KvmSharp.Soft;

namespace KvmSharp.Vmm;

/// <summary>Picks a kernel by name: "host", "soft", or "auto" (host where /dev/kvm opens, else soft).</summary>
public static class KernelChoice
{
    public static readonly string[] Names = ["auto", "host", "soft"];

    public static IKvmKernel Open(string name)
    {
        switch (name)
        {
            case "host":
                var host = new HostKernel();
                if (!host.IsAvailable())
                    throw new NotSupportedException($"The host kernel is not available: {host.DevicePath} cannot be opened.");
                return host;
            case "soft":
                return new SoftKernel();
            case "auto":
                var preferred = new HostKernel();
                return preferred.IsAvailable() ? preferred : new SoftKernel();
            default:
                throw new ArgumentException($"Unknown kernel '{name}': use {string.Join(", ", Names)}.", nameof(name));
        }
    }
}
