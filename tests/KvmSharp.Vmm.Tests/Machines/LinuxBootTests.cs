using System.Text;
using KvmSharp.Vmm.Devices.Virtio;
using KvmSharp.Vmm.Initramfs;
using KvmSharp.Vmm.Machines;

namespace KvmSharp.Vmm.Tests.Machines;

/// <summary>
/// Debian's cloud kernel (fetched by tests/assets/fetch.sh) boots on the Soft
/// kernel to a busybox init that loads the virtio modules from the same kernel
/// package, uses every virtio device and powers off. Host cannot run it here:
/// kvm_pvm does not boot stock kernels (QEMU's -accel kvm fails on it too), so
/// these run on Soft. Each boot costs about a minute in Debug, so one boot
/// checks everything.
/// </summary>
public class LinuxBootTests
{
    // The host writes HostPattern at sector 4 of the disk before the boot; the guest reads it back,
    // writes GuestPattern at sector 8, drops its page cache and reads that back from the device.
    public const string HostPattern = "KVMSHARP-HOST-WROTE-THIS";
    public const string GuestPattern = "KVMSHARP-GUEST-WROTE-IT";

    private static readonly string Init = $$"""
        #!/bin/sh
        mount -t proc proc /proc
        mount -t sysfs sysfs /sys
        mount -t devtmpfs devtmpfs /dev
        echo "KVMSHARP-MARKER cpus=$(grep -c ^processor /proc/cpuinfo) kernel=$(uname -r)"
        /sbin/load-modules || echo "KVMSHARP-MODULES-FAILED"
        echo "host-pattern=[$(dd if=/dev/vda bs=512 skip=4 count=1 2>/dev/null | head -c {{HostPattern.Length}})]"
        echo -n {{GuestPattern}} > /tmp/pattern
        dd if=/tmp/pattern of=/dev/vda bs=512 seek=8 conv=sync,fsync 2>/dev/null && echo "KVMSHARP-WROTE"
        sync
        echo 3 > /proc/sys/vm/drop_caches
        echo "guest-pattern=[$(dd if=/dev/vda bs=512 skip=8 count=1 2>/dev/null | head -c {{GuestPattern.Length}})]"
        dd if=/tmp/pattern of=/dev/vdb bs=512 conv=sync,fsync 2>/dev/null && echo "readonly=written" || echo "readonly=refused"
        echo "KVMSHARP-HVC-OUTPUT" > /dev/hvc0
        echo "rng=$(cat /sys/class/misc/hw_random/rng_current) bytes=$(head -c 64 /dev/hwrng | wc -c)"
        poweroff -f

        """;

    [Fact]
    public void DebianCloudKernelBootsOnSoftUsesEveryVirtioDeviceAndPowersOff()
    {
        const int Cpus = 2;
        string initrd = BootAssets.BuildInitramfs(Init);
        string disk = BootAssets.CreateDisk(64, (4, HostPattern));
        string readOnlyDisk = BootAssets.CreateDisk(8);
        try
        {
            var console = new MemoryStream();
            var deviceLog = new StringWriter();
            MachineExit exit;
            IReadOnlyList<VirtioMmioTransport> devices;
            using (var machine = new LinuxMachine(KernelChoice.Open("soft"), new LinuxMachineOptions
            {
                KernelPath = Path.Combine(BootAssets.Directory, "vmlinuz"),
                InitrdPath = initrd,
                CommandLine = BootAssets.BaseCommandLine,
                MemoryBytes = 256UL << 20,
                Cpus = Cpus,
                Disks = [new DiskOptions(disk), new DiskOptions(readOnlyDisk, ReadOnly: true)],
                ConsoleOutput = console,
                DeviceLog = KvmSharp.Vmm.Devices.DeviceLogs.To(deviceLog),
            }))
            {
                exit = machine.Run(TimeSpan.FromMinutes(5));
                devices = machine.VirtioDevices;
            }
            string output = Encoding.ASCII.GetString(console.ToArray());
            TestContext.Current.TestOutputHelper?.WriteLine($"{Cpus} vCPUs: {exit.WallTime.TotalSeconds:F1} s, exits {string.Join(", ", exit.Exits.NonZero())}\n{output}");

            Assert.True(exit.Kind == MachineExitKind.PowerOff, $"{exit.Kind}: {exit.Reason}\n{output}");
            Assert.Contains($"KVMSHARP-MARKER cpus={Cpus} kernel=6.1.", output);
            Assert.DoesNotContain("KVMSHARP-MODULES-FAILED", output);
            Assert.Contains($"host-pattern=[{HostPattern}]", output);
            Assert.Contains("KVMSHARP-WROTE", output);
            Assert.Contains($"guest-pattern=[{GuestPattern}]", output);
            Assert.Contains("readonly=refused", output);
            Assert.Contains("KVMSHARP-HVC-OUTPUT", output);
            Assert.Contains("rng=virtio_rng.0 bytes=64", output);
            Assert.Contains("reboot: Power down", output);
            Assert.DoesNotContain("APIC id mismatch", output);
            Assert.All(devices, d => Assert.Null(d.LastFault));
            Assert.Equal("", deviceLog.ToString());

            // What the guest synced is in the image once the machine is gone; the read-only disk is untouched.
            byte[] image = File.ReadAllBytes(disk);
            Assert.Equal(GuestPattern, Encoding.ASCII.GetString(image, 8 * 512, GuestPattern.Length));
            Assert.All(File.ReadAllBytes(readOnlyDisk), b => Assert.Equal(0, b));
        }
        finally
        {
            File.Delete(initrd);
            File.Delete(disk);
            File.Delete(readOnlyDisk);
        }
    }
}
