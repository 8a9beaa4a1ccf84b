using System.Text;
using KvmSharp.Vmm.Initramfs;
using KvmSharp.Vmm.Machines;

namespace KvmSharp.Vmm.Tests.Machines;

/// <summary>
/// Debian's cloud kernel (fetched by tests/assets/fetch.sh) boots on the Soft
/// kernel to a busybox init. Host cannot run it here: kvm_pvm does not boot
/// stock kernels (QEMU's -accel kvm fails on it too), so these run on Soft.
/// </summary>
public class LinuxBootTests
{
    private static readonly string Assets = Path.Combine(AppContext.BaseDirectory, "../../../../assets/cache");

    private const string Init = """
        #!/bin/sh
        mount -t proc proc /proc
        echo "KVMSHARP-MARKER cpus=$(grep -c ^processor /proc/cpuinfo) kernel=$(uname -r)"
        poweroff -f

        """;

    private static (MachineExit Exit, string Console) Boot(int cpus)
    {
        string initrd = Path.Combine(Path.GetTempPath(), $"kvmsharp-test-initrd-{Guid.NewGuid():N}.img");
        InitramfsBuilder.WithBusybox(File.ReadAllBytes(Path.Combine(Assets, "busybox-bin")), Init).WriteTo(initrd);
        try
        {
            var console = new MemoryStream();
            using var machine = new LinuxMachine(KernelChoice.Open("soft"), new LinuxMachineOptions
            {
                KernelPath = Path.Combine(Assets, "vmlinuz"),
                InitrdPath = initrd,
                CommandLine = "console=ttyS0 quiet tsc=reliable no_timer_check cryptomgr.notests pci=off i8042.noaux i8042.nokbd i8042.nopnp 8250.nr_uarts=1 random.trust_cpu=on panic=-1",
                MemoryBytes = 256UL << 20,
                Cpus = cpus,
                SerialOutput = console,
            });
            var exit = machine.Run(TimeSpan.FromMinutes(4));
            return (exit, Encoding.ASCII.GetString(console.ToArray()));
        }
        finally
        {
            File.Delete(initrd);
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void DebianCloudKernelBootsOnSoftToBusyboxAndPowersOff(int cpus)
    {
        var (exit, console) = Boot(cpus);
        Assert.True(exit.Reason == "the guest powered off", $"{exit.Reason}\n{console}");
        Assert.Contains($"KVMSHARP-MARKER cpus={cpus} kernel=6.1.", console);
        Assert.Contains("reboot: Power down", console);
        Assert.DoesNotContain("APIC id mismatch", console);
        TestContext.Current.TestOutputHelper?.WriteLine($"{cpus} vCPU(s): {exit.WallTime.TotalSeconds:F1} s, exits {string.Join(", ", exit.Exits.NonZero())}\n{console}");
    }
}
