using System.Globalization;

namespace KvmSharp.Vmm.Devices.Virtio;

/// <summary>
/// Where a virtio-mmio device sits: its MMIO window and its interrupt, and the
/// kernel command-line parameter that tells Linux's virtio_mmio driver so
/// (<c>virtio_mmio.device=&lt;size&gt;@&lt;base&gt;:&lt;irq&gt;</c>), for
/// machines without a device tree or ACPI entries for it.
/// </summary>
public sealed record VirtioMmioSlot(ulong Base, ulong Size, uint Irq)
{
    public const ulong DefaultSize = 0x1000;

    /// <summary>Consecutive 4 KiB windows from <paramref name="firstBase"/>, each with the next interrupt.</summary>
    public static VirtioMmioSlot Nth(int index, ulong firstBase = 0xD000_0000, uint firstIrq = 5) =>
        new(firstBase + (ulong)index * DefaultSize, DefaultSize, firstIrq + (uint)index);

    public string KernelParameter => string.Create(CultureInfo.InvariantCulture, $"virtio_mmio.device={FormatSize(Size)}@0x{Base:x}:{Irq}");

    public BusRegistration Register(MmioBus bus, VirtioMmioTransport transport)
    {
        if (Size < VirtioMmioTransport.MinimumWindow)
            throw new ArgumentOutOfRangeException(nameof(Size), $"A virtio-mmio window needs at least 0x{VirtioMmioTransport.MinimumWindow:x} bytes; 0x{Size:x} is too small.");
        return bus.Register(Base, Size, transport, $"virtio-mmio {transport.Device.Name} @0x{Base:x}");
    }

    // Linux parses the size with memparse, which takes K/M/G suffixes and 0x numbers.
    private static string FormatSize(ulong size) =>
        size % (1UL << 30) == 0 ? $"{size >> 30}G"
        : size % (1UL << 20) == 0 ? $"{size >> 20}M"
        : size % (1UL << 10) == 0 ? $"{size >> 10}K"
        : $"0x{size:x}";
}
