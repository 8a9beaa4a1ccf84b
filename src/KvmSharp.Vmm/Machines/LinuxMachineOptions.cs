using KvmSharp.Vmm.Devices;

namespace KvmSharp.Vmm.Machines;

/// <summary>A raw disk image the guest sees as a virtio block device (/dev/vda, /dev/vdb… in the order given).</summary>
/// <param name="Path">The image file; its size, rounded down to 512-byte sectors, is the disk's.</param>
/// <param name="ReadOnly">Offer the disk read-only: the guest's writes fail and the file is opened for reading only.</param>
public sealed record DiskOptions(string Path, bool ReadOnly = false);

/// <summary>What to boot and with what.</summary>
public sealed record LinuxMachineOptions
{
    public required string KernelPath { get; init; }
    public string? InitrdPath { get; init; }
    public string CommandLine { get; init; } = "console=ttyS0";
    public ulong MemoryBytes { get; init; } = 256UL << 20;
    public int Cpus { get; init; } = 1;

    /// <summary>virtio block devices, in the order the guest names them.</summary>
    public IReadOnlyList<DiskOptions> Disks { get; init; } = [];

    /// <summary>Add a virtio console (hvc0 in the guest); its output joins COM1's.</summary>
    public bool VirtioConsole { get; init; } = true;

    /// <summary>Add a virtio entropy source (the guest's /dev/hwrng), fed from the host's random number generator.</summary>
    public bool VirtioRng { get; init; } = true;

    /// <summary>
    /// Where the guest's console output (COM1 and hvc0) goes. Null keeps it
    /// for reading from <see cref="LinuxMachine.Console"/>.
    /// </summary>
    public Stream? ConsoleOutput { get; init; }

    /// <summary>Where devices report what the guest did wrong (a malformed virtqueue…), one line each.</summary>
    public DeviceLog DeviceLog { get; init; } = DeviceLogs.None;
}
