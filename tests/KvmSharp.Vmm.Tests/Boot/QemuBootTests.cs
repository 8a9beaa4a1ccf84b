using System.Diagnostics;
using System.Text;
using KvmSharp.Vmm.Acpi;
using KvmSharp.Vmm.Boot;
using KvmSharp.Vmm.Initramfs;

namespace KvmSharp.Vmm.Tests.Boot;

/// <summary>
/// The Debian cloud kernel booted by QEMU (TCG) from nothing but a boot plan:
/// our memory writes, e820 map, ACPI and MP tables and entry state; no SeaBIOS,
/// so every table the kernel sees is ours. Runs where qemu-system-x86_64 is installed.
/// </summary>
public class QemuBootTests
{
    private const ulong Ram = 256 << 20;
    private const string Marker = "KVMSHARP-BOOT-MARKER";

    [Theory]
    [InlineData("bzImage")]
    [InlineData("pvh")]
    public void DebianCloudKernelRunsBusyboxInitFromABootPlan(string protocol)
    {
        const string qemu = "/usr/bin/qemu-system-x86_64";
        if (!File.Exists(qemu))
            Assert.Skip("qemu-system-x86_64 is not installed.");

        byte[] vmlinuz = File.ReadAllBytes(TestAssets.Vmlinuz);
        byte[] kernel = protocol == "pvh" ? BzImagePayload.ExtractVmlinux(vmlinuz) : vmlinuz;
        string init = $"#!/bin/sh\nmount -t proc proc /proc\necho {Marker} cpus=$(nproc)\ngrep -c . /proc/iomem >/dev/null\nreboot -f\n";
        var initramfs = InitramfsBuilder.WithBusybox(File.ReadAllBytes(TestAssets.Busybox), init).BuildGzip();
        var acpi = new AcpiOptions { Cpus = 2 };
        var plan = KernelLoader.Load(kernel, new LinuxBootOptions
        {
            MemorySize = Ram,
            // TCG's TSC runs at the host's rate; with a hardware-reduced FADT there is no PM timer to calibrate it against.
            CommandLine = $"console=ttyS0 reboot=t tsc_early_khz={HostTscKhz()} tsc=reliable no_timer_check cryptomgr.notests random.trust_cpu=on panic=-1",
            Initrd = initramfs,
            Firmware = AcpiTables.Build(acpi).Combine(MpTable.Build(acpi.Cpus)),
        });
        Assert.Equal(protocol == "pvh" ? EntryMode.Protected32 : EntryMode.Long64, plan.EntryMode);

        string directory = Directory.CreateTempSubdirectory("qemu-boot-").FullName;
        try
        {
            var arguments = new List<string> { "-accel", "tcg", "-M", "pc", "-smp", acpi.Cpus.ToString(), "-m", $"{Ram >> 20}M", "-nodefaults", "-display", "none", "-serial", "stdio", "-no-reboot" };
            string bios = Path.Combine(directory, "bios.bin");
            File.WriteAllBytes(bios, QemuFirmwareStub.Bios(plan));
            arguments.AddRange(["-bios", bios]);
            int index = 0;
            foreach (var write in plan.Writes.Where(w => w.Address < 0xE0000 || w.Address >= 0x100000))
            {
                string file = Path.Combine(directory, $"write{index++}.bin");
                File.WriteAllBytes(file, write.Bytes.ToArray());
                arguments.AddRange(["-device", $"loader,file={file},addr=0x{write.Address:x},force-raw=on"]);
            }

            string console = Run(qemu, arguments, TimeSpan.FromSeconds(double.Parse(Environment.GetEnvironmentVariable("QEMU_BOOT_TIMEOUT") ?? "240")));
            Assert.True(console.Contains(Marker + " cpus=2"), $"No marker with two CPUs in the console:\n{console[^Math.Min(console.Length, 6000)..]}");
            Assert.Contains("ACPI: RSDP 0x00000000000E0000", console);
            Assert.DoesNotContain("Kernel panic", console);
            // Without a legacy PIC (hardware-reduced ACPI) ISA devices get IRQs only through the DSDT.
            Assert.Contains("rtc_cmos 00:01: registered as rtc0", console);
            Assert.Contains("ACPI: PM: (supports S0 S5)", console);
            Assert.DoesNotContain("failed with error -22", console);
            TestContext.Current.TestOutputHelper?.WriteLine(console);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    private static long HostTscKhz()
    {
        string line = File.ReadLines("/proc/cpuinfo").First(l => l.StartsWith("cpu MHz", StringComparison.Ordinal));
        return (long)(double.Parse(line[(line.IndexOf(':') + 1)..], System.Globalization.CultureInfo.InvariantCulture) * 1000);
    }

    private static string Run(string tool, List<string> arguments, TimeSpan timeout)
    {
        var start = new ProcessStartInfo(tool) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        foreach (string argument in arguments)
            start.ArgumentList.Add(argument);
        using var process = Process.Start(start)!;
        var output = new StringBuilder();
        process.OutputDataReceived += (_, e) => { lock (output) output.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { lock (output) output.AppendLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        if (!process.WaitForExit(timeout))
        {
            process.Kill();
            process.WaitForExit();
        }
        process.WaitForExit();
        lock (output)
            return output.ToString();
    }
}
