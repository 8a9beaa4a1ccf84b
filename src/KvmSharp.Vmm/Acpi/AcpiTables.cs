using KvmSharp.Vmm.Boot;

namespace KvmSharp.Vmm.Acpi;

/// <summary>
/// Lays out the RSDP, XSDT, RSDT, FADT, DSDT and MADT in the BIOS area, where
/// the e820 map reserves them, as <see cref="FirmwareTables"/> for a boot plan.
/// </summary>
public static class AcpiTables
{
    public const ulong DefaultAddress = GuestMemoryLayout.BiosAreaStart;
    /// <summary>Room the tables may take; the MP table, if any, goes after.</summary>
    public const ulong AreaSize = 0x10000;
    private const ulong Alignment = 16;

    public static FirmwareTables Build(AcpiOptions options, ulong address = DefaultAddress)
    {
        if (address % Alignment != 0)
            throw new ArgumentException($"The RSDP must sit on a 16-byte boundary; 0x{address:x} is not one.", nameof(address));
        ulong next = address + Rsdp.Size;
        var writes = new List<BootWrite>();
        ulong Place(string what, byte[] table)
        {
            next = (next + Alignment - 1) & ~(Alignment - 1);
            ulong at = next;
            writes.Add(new BootWrite(what, at, table));
            next += (ulong)table.Length;
            return at;
        }

        ulong dsdt = Place("ACPI DSDT", Dsdt.Build(options));
        ulong fadt = Place("ACPI FACP", Fadt.Build(options, dsdt));
        ulong madt = Place("ACPI APIC", Madt.Build(options));
        ulong[] described = [fadt, madt];
        ulong xsdt = Place("ACPI XSDT", RootTables.Xsdt(described));
        ulong rsdt = Place("ACPI RSDT", RootTables.Rsdt(described));
        if (next > address + AreaSize)
            throw new InvalidOperationException($"The ACPI tables need 0x{next - address:x} bytes; 0x{AreaSize:x} are set aside.");
        writes.Add(new BootWrite("ACPI RSDP", address, Rsdp.Build(checked((uint)rsdt), xsdt)));
        return new FirmwareTables(writes, address);
    }

    /// <summary>
    /// Whether a port write is the guest powering off through the sleep control
    /// register: SLP_EN (bit 5) with SLP_TYP (bits 2-4) equal to \_S5's value.
    /// </summary>
    public static bool IsPowerOff(AcpiOptions options, ushort port, ReadOnlySpan<byte> data) =>
        options.SleepControlPort == port && data.Length == 1 && (data[0] & 0x20) != 0 && ((data[0] >> 2) & 7) == Dsdt.S5SleepType;
}
