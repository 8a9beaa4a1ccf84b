using System.CommandLine;
using System.Text;
using KvmSharp.Abi;

namespace KvmSharp.Cli.Commands;

/// <summary>`kvmsharp info`: what the chosen kernel offers.</summary>
internal static class InfoCommand
{
    public static Command Create(TextWriter output)
    {
        var backend = BackendOption.Create();
        var all = new Option<bool>("--all") { Description = "List capabilities the kernel lacks too (value 0)." };
        var command = new Command("info", "Show the kernel in use, its API version, capabilities, supported CPUID and MSR list.") { backend, all };
        command.SetAction(parsed => Print(output, BackendOption.Open(parsed.GetValue(backend)!), parsed.GetValue(all)));
        return command;
    }

    private static int Print(TextWriter output, Kernel.IKvmKernel kernel, bool all)
    {
        using var kvm = Kvm.Open(kernel); // Refuses any API version but 12.
        output.WriteLine($"kernel:        {kernel.Name}{(kernel is Kernel.HostKernel host ? $" ({host.DevicePath})" : "")}");
        output.WriteLine($"API version:   {kvm.GetApiVersion()}");
        output.WriteLine($"vCPU mmap:     {kvm.GetVcpuMmapSize()} bytes");
        output.WriteLine($"MSR index list: {kvm.GetMsrIndexList().Length} MSRs");

        var cpuid = kvm.GetSupportedCpuid();
        output.WriteLine($"supported CPUID: {cpuid.Length} entries, {CpuidSummary(cpuid)}");

        output.WriteLine();
        output.WriteLine("capability                               value");
        int present = 0;
        foreach (KvmCap cap in Enum.GetValues<KvmCap>())
        {
            int value;
            try
            {
                value = kvm.CheckExtension(cap);
            }
            catch (KvmException e)
            {
                output.WriteLine($"{CName(cap),-40} error {e.Errno}");
                continue;
            }
            if (value != 0)
                present++;
            if (value != 0 || all)
                output.WriteLine($"{CName(cap),-40} {value}");
        }
        output.WriteLine($"({present} of {Enum.GetValues<KvmCap>().Length} capabilities present{(all ? "" : "; --all lists the rest")})");
        return 0;
    }

    private static string CName(KvmCap cap) =>
        typeof(KvmCap).GetField(cap.ToString())?.GetCustomAttributes(typeof(CNameAttribute), false)
            .OfType<CNameAttribute>().FirstOrDefault()?.Name ?? cap.ToString();

    private static string CpuidSummary(KvmCpuidEntry2[] entries)
    {
        var leaf0 = entries.FirstOrDefault(e => e.Function == 0);
        var ext0 = entries.FirstOrDefault(e => e.Function == 0x80000000);
        var vendor = new StringBuilder();
        foreach (uint word in new[] { leaf0.Ebx, leaf0.Edx, leaf0.Ecx })
            for (int i = 0; i < 4; i++)
                vendor.Append((char)((word >> (8 * i)) & 0xff));
        var leaf1 = entries.FirstOrDefault(e => e.Function == 1);
        var ext1 = entries.FirstOrDefault(e => e.Function == 0x80000001);
        var features = new List<string>();
        void Flag(bool on, string name) { if (on) features.Add(name); }
        Flag((leaf1.Edx & (1u << 25)) != 0, "sse");
        Flag((leaf1.Edx & (1u << 26)) != 0, "sse2");
        Flag((leaf1.Ecx & (1u << 0)) != 0, "sse3");
        Flag((leaf1.Ecx & (1u << 19)) != 0, "sse4.1");
        Flag((leaf1.Ecx & (1u << 20)) != 0, "sse4.2");
        Flag((leaf1.Ecx & (1u << 26)) != 0, "xsave");
        Flag((leaf1.Ecx & (1u << 28)) != 0, "avx");
        Flag((leaf1.Ecx & (1u << 21)) != 0, "x2apic");
        Flag((leaf1.Ecx & (1u << 24)) != 0, "tsc-deadline");
        Flag((ext1.Edx & (1u << 29)) != 0, "lm");
        Flag((ext1.Edx & (1u << 20)) != 0, "nx");
        Flag((ext1.Edx & (1u << 26)) != 0, "1g-pages");
        return $"vendor \"{vendor}\", max leaf 0x{leaf0.Eax:x}, max extended leaf 0x{ext0.Eax:x}, features: {string.Join(' ', features)}";
    }
}
