namespace KvmSharp.Vmm.Acpi;

/// <summary>
/// A minimal DSDT: the ISA devices (COM1, RTC, i8042 keyboard) with their
/// ports and IRQs, and the \_S5 sleep package that makes the kernel offer ACPI
/// power-off. The end tag's checksum is zero, meaning "not checksummed".
/// </summary>
public static class Dsdt
{
    /// <summary>SLP_TYP of S5 (soft off) in \_S5; the value written to the sleep control register carries it.</summary>
    public const byte S5SleepType = 5;
    public const byte Revision = 2;

    public static byte[] Build(AcpiOptions options)
    {
        var devices = new List<byte[]>();
        if (options.Com1)
            devices.Add(LegacyDevice("COM1", "PNP0501", [IoPorts(0x3F8, 8)], irq: 4));
        if (options.Rtc)
            devices.Add(LegacyDevice("RTC", "PNP0B00", [IoPorts(0x70, 2)], irq: 8));
        if (options.Keyboard)
            devices.Add(LegacyDevice("KBD", "PNP0303", [IoPorts(0x60, 1), IoPorts(0x64, 1)], irq: 1));
        if (options.VirtioMmio.Count > 256)
            throw new ArgumentException($"The DSDT names virtio-mmio devices VR00-VRFF; {options.VirtioMmio.Count} devices do not fit.", nameof(options));
        for (int i = 0; i < options.VirtioMmio.Count; i++)
            devices.Add(VirtioMmioDevice(i, options.VirtioMmio[i]));
        var terms = new List<byte[]>();
        if (devices.Count > 0)
            terms.Add(Aml.Scope("\\_SB", [.. devices]));
        if (options.SleepControlPort is not null)
            terms.Add(Aml.Name("\\_S5", Aml.Package(Aml.Integer(S5SleepType), Aml.Integer(0))));
        return AcpiTable.Build("DSDT", Revision, terms.SelectMany(t => t).ToArray());
    }

    /// <summary>An ISA device with a PNP id, fixed port ranges and one edge-triggered IRQ.</summary>
    private static byte[] LegacyDevice(string name, string pnpId, byte[][] ports, int irq)
    {
        byte[] resources = [.. ports.SelectMany(p => p), 0x22, (byte)(1 << irq), (byte)((1 << irq) >> 8), 0x79, 0x00];
        return Aml.Device(name,
            Aml.Name("_HID", Aml.Integer(Aml.EisaId(pnpId))),
            Aml.Name("_UID", Aml.Integer(1)),
            Aml.Name("_CRS", Aml.Buffer(resources)));
    }

    /// <summary>
    /// A virtio-mmio device: a 32-bit fixed memory range (read/write) and an
    /// extended interrupt descriptor (consumer, edge, active high, exclusive),
    /// as the device raises a new edge for every interrupt it signals.
    /// </summary>
    private static byte[] VirtioMmioDevice(int index, AcpiMmioDevice device)
    {
        if (device.Base > uint.MaxValue || device.Size == 0 || device.Size > uint.MaxValue - device.Base + 1)
            throw new ArgumentException($"virtio-mmio window 0x{device.Base:x} (+0x{device.Size:x}) must lie below 4 GiB to be described by a 32-bit memory descriptor.", nameof(device));
        const byte ConsumerEdgeActiveHighExclusive = 0x03;
        var resources = new List<byte> { 0x86, 0x09, 0x00, 0x01 };
        resources.AddRange(BitConverter.GetBytes((uint)device.Base));
        resources.AddRange(BitConverter.GetBytes((uint)device.Size));
        resources.AddRange([0x89, 0x06, 0x00, ConsumerEdgeActiveHighExclusive, 0x01]);
        resources.AddRange(BitConverter.GetBytes(device.Gsi));
        resources.AddRange([0x79, 0x00]);
        return Aml.Device($"VR{index:X2}",
            Aml.Name("_HID", Aml.String(AcpiMmioDevice.VirtioMmioHardwareId)),
            Aml.Name("_UID", Aml.Integer((ulong)index)),
            Aml.Name("_CRS", Aml.Buffer(resources.ToArray())));
    }

    /// <summary>A fixed I/O port descriptor: 16-bit decode, minimum = maximum, byte alignment.</summary>
    private static byte[] IoPorts(ushort start, byte length) =>
        [0x47, 0x01, (byte)start, (byte)(start >> 8), (byte)start, (byte)(start >> 8), 0x01, length];
}
