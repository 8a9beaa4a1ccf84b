using System.Buffers.Binary;

namespace KvmSharp.Vmm.Acpi;

/// <summary>
/// The MADT ("APIC"): one enabled local APIC per vCPU, the IOAPIC at GSI 0,
/// the ISA override that routes the PIT's IRQ 0 to GSI 2 (as on every PC),
/// and LINT1 of every CPU as NMI.
/// </summary>
public static class Madt
{
    public const byte Revision = 5;
    public const uint FlagPcAtCompatible = 1;
    public const byte TypeLocalApic = 0, TypeIoApic = 1, TypeInterruptSourceOverride = 2, TypeLocalApicNmi = 4;
    public const int MaxCpus = 255;

    public static byte[] Build(AcpiOptions options)
    {
        if (options.Cpus is < 1 or > MaxCpus)
            throw new ArgumentOutOfRangeException(nameof(options), $"The MADT describes 1 to {MaxCpus} xAPIC CPUs; {options.Cpus} asked.");
        var body = new List<byte>();
        Span<byte> header = stackalloc byte[8];
        BinaryPrimitives.WriteUInt32LittleEndian(header, options.LocalApicAddress);
        // The in-kernel 8259 PICs exist next to the APICs, as on a PC.
        BinaryPrimitives.WriteUInt32LittleEndian(header[4..], FlagPcAtCompatible);
        body.AddRange(header.ToArray());

        for (int cpu = 0; cpu < options.Cpus; cpu++)
            body.AddRange([TypeLocalApic, 8, (byte)cpu, (byte)cpu, 1, 0, 0, 0]); // UID, APIC id, flags: enabled

        var ioApic = new byte[12];
        ioApic[0] = TypeIoApic;
        ioApic[1] = 12;
        ioApic[2] = options.IoApicId;
        BinaryPrimitives.WriteUInt32LittleEndian(ioApic.AsSpan(4), options.IoApicAddress);
        BinaryPrimitives.WriteUInt32LittleEndian(ioApic.AsSpan(8), 0);
        body.AddRange(ioApic);

        var irq0 = new byte[10];
        irq0[0] = TypeInterruptSourceOverride;
        irq0[1] = 10;
        irq0[2] = 0; // ISA bus
        irq0[3] = 0; // IRQ 0
        BinaryPrimitives.WriteUInt32LittleEndian(irq0.AsSpan(4), 2); // GSI 2
        BinaryPrimitives.WriteUInt16LittleEndian(irq0.AsSpan(8), 0); // bus-conforming polarity and trigger
        body.AddRange(irq0);

        body.AddRange([TypeLocalApicNmi, 6, 0xFF, 0, 0, 1]); // all processors, conforming flags, LINT1

        return AcpiTable.Build("APIC", Revision, body.ToArray());
    }
}
