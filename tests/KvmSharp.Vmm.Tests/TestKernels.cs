using KvmSharp.Kernel;

namespace KvmSharp.Vmm.Tests;

/// <summary>Opens a kernel by name for a test; Host skips (with the reason) only where /dev/kvm cannot be opened.</summary>
public static class TestKernels
{
    public static IKvmKernel Open(string name)
    {
        if (name == "host" && !new HostKernel().IsAvailable())
            Assert.Skip($"{new HostKernel().DevicePath} cannot be opened on this machine.");
        return KernelChoice.Open(name);
    }
}
