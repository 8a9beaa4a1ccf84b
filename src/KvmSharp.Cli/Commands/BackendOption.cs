using System.CommandLine;
using KvmSharp.Kernel;

namespace KvmSharp.Cli.Commands;

/// <summary>--backend auto|host|soft.</summary>
internal static class BackendOption
{
    public static Option<string> Create()
    {
        var option = new Option<string>("--backend")
        {
            Description = "Which kernel runs the VM: host (/dev/kvm), soft (KvmSharp's software hypervisor), or auto (host where /dev/kvm opens, else soft).",
            DefaultValueFactory = _ => "auto",
        };
        option.AcceptOnlyFromAmong("auto", "host", "soft");
        return option;
    }

    public static IKvmKernel Open(string backend)
    {
        if (backend == "host")
        {
            var host = new HostKernel();
            if (!host.IsAvailable())
                throw new NotSupportedException($"The host kernel is not available: {host.DevicePath} cannot be opened.");
            return host;
        }
        return KvmKernels.Create(backend);
    }
}
