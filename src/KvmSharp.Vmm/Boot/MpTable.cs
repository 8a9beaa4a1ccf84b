using System.Buffers.Binary;

namespace KvmSharp.Vmm.Boot;

/// <summary>
/// An Intel MultiProcessor Specification 1.4 table: the "_MP_" floating pointer
/// and a "PCMP" configuration table with the processors, one ISA bus, the
/// IOAPIC and the ISA interrupt routing. Kernels without ACPI (or booted with
/// acpi=off) find their CPUs and the IOAPIC here.
/// </summary>
public static class MpTable
{
    public const ulong DefaultAddress = GuestMemoryLayout.BiosAreaStart + 0x10000;
    public const byte SpecRevision = 4;
    public const int FloatingPointerSize = 16;
    public const int HeaderSize = 44;
    public const byte LocalApicVersion = 0x14;
    public const byte IoApicVersion = 0x11;
    public const byte IsaBusId = 0;
    /// <summary>ISA IRQs routed to the IOAPIC; IRQ 0 (the PIT) arrives on pin 2, as the MADT's override says.</summary>
    public const int IsaIrqs = 16;

    private const byte EntryProcessor = 0, EntryBus = 1, EntryIoApic = 2, EntryIoInterrupt = 3, EntryLocalInterrupt = 4;
    private const byte InterruptInt = 0, InterruptNmi = 1, InterruptExtInt = 3;

    public static FirmwareTables Build(int cpus, ulong address = DefaultAddress, uint localApicAddress = 0xFEE0_0000, uint ioApicAddress = 0xFEC0_0000, byte ioApicId = 0)
    {
        if (cpus is < 1 or > 255)
            throw new ArgumentOutOfRangeException(nameof(cpus), $"The MP table describes 1 to 255 xAPIC CPUs; {cpus} asked.");
        if (address % 16 != 0 || address + FloatingPointerSize > uint.MaxValue)
            throw new ArgumentException($"The MP floating pointer must sit on a 16-byte boundary below 4 GiB; 0x{address:x} does not.", nameof(address));

        var entries = new List<byte[]>();
        for (int cpu = 0; cpu < cpus; cpu++)
        {
            var processor = new byte[20];
            processor[0] = EntryProcessor;
            processor[1] = (byte)cpu;
            processor[2] = LocalApicVersion;
            processor[3] = (byte)(cpu == 0 ? 0x3 : 0x1); // enabled; the first is the bootstrap processor
            BinaryPrimitives.WriteUInt32LittleEndian(processor.AsSpan(4), 0x600); // family 6
            BinaryPrimitives.WriteUInt32LittleEndian(processor.AsSpan(8), 0x201); // CPUID.1:EDX FPU and APIC
            entries.Add(processor);
        }
        entries.Add([EntryBus, IsaBusId, .. "ISA   "u8]);
        var ioApic = new byte[8];
        ioApic[0] = EntryIoApic;
        ioApic[1] = ioApicId;
        ioApic[2] = IoApicVersion;
        ioApic[3] = 1; // usable
        BinaryPrimitives.WriteUInt32LittleEndian(ioApic.AsSpan(4), ioApicAddress);
        entries.Add(ioApic);
        for (byte irq = 0; irq < IsaIrqs; irq++)
        {
            if (irq == 2)
                continue; // the PICs' cascade: no device raises it
            byte pin = irq == 0 ? (byte)2 : irq;
            entries.Add([EntryIoInterrupt, InterruptInt, 0, 0, IsaBusId, irq, ioApicId, pin]);
        }
        // Every CPU's LINT0 takes the PIC's ExtINT (virtual wire) and LINT1 the NMI.
        entries.Add([EntryLocalInterrupt, InterruptExtInt, 0, 0, IsaBusId, 0, 0xFF, 0]);
        entries.Add([EntryLocalInterrupt, InterruptNmi, 0, 0, IsaBusId, 0, 0xFF, 1]);

        var table = new byte[HeaderSize + entries.Sum(e => e.Length)];
        "PCMP"u8.CopyTo(table);
        BinaryPrimitives.WriteUInt16LittleEndian(table.AsSpan(4), (ushort)table.Length);
        table[6] = SpecRevision;
        "KVMSHARP"u8.CopyTo(table.AsSpan(8));
        "KVMSHARP    "u8.CopyTo(table.AsSpan(16));
        BinaryPrimitives.WriteUInt16LittleEndian(table.AsSpan(34), (ushort)entries.Count);
        BinaryPrimitives.WriteUInt32LittleEndian(table.AsSpan(36), localApicAddress);
        int position = HeaderSize;
        foreach (var entry in entries)
        {
            entry.CopyTo(table, position);
            position += entry.Length;
        }
        table[7] = Acpi.AcpiTable.Checksum(table);

        ulong tableAddress = address + FloatingPointerSize;
        var pointer = new byte[FloatingPointerSize];
        "_MP_"u8.CopyTo(pointer);
        BinaryPrimitives.WriteUInt32LittleEndian(pointer.AsSpan(4), (uint)tableAddress);
        pointer[8] = 1; // length in 16-byte paragraphs
        pointer[9] = SpecRevision;
        // Feature bytes zero: a configuration table follows, and the PIC runs in virtual-wire mode (no IMCR).
        pointer[10] = Acpi.AcpiTable.Checksum(pointer);

        return new FirmwareTables([new BootWrite("MP floating pointer", address, pointer), new BootWrite("MP configuration table", tableAddress, table)], 0);
    }
}
