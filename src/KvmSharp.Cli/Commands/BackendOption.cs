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
        option.AcceptOnlyFromAmong(Vmm.KernelChoice.Names);
        return option;
    }

    public static IKvmKernel Open(string backend) => Vmm.KernelChoice.Open(backend);
}
