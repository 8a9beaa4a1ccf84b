using KvmSharp.Kernel;

namespace KvmSharp.Tests;

/// <summary>
/// The kernels every conformance test runs on. A kernel that cannot run on this
/// machine skips with the reason; on the project's machines both run.
/// </summary>
public static class Kernels
{
    public static TheoryData<string> All => new() { "host" };

    public static Kvm Open(string name)
    {
        if (name == "host")
        {
            var host = new HostKernel();
            if (!host.IsAvailable())
                Assert.Skip($"{host.DevicePath} cannot be opened on this machine.");
            return Kvm.Open(host);
        }
        return Kvm.Open(KvmKernels.Create(name));
    }
}
