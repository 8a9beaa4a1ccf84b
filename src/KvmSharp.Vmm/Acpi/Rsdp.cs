using System.Buffers.Binary;

namespace KvmSharp.Vmm.Acpi;

/// <summary>
/// The Root System Description Pointer, revision 2 (ACPI 6.5, 5.2.5): 36 bytes
/// on a 16-byte boundary where the kernel scans for it (0xE0000-0xFFFFF), with a
/// checksum over its first 20 bytes and an extended one over all 36.
/// </summary>
public static class Rsdp
{
    public const int Size = 36;
    public const byte Revision = 2;
    public const string Signature = "RSD PTR ";

    public static byte[] Build(uint rsdtAddress, ulong xsdtAddress)
    {
        var rsdp = new byte[Size];
        AcpiTable.Ascii(rsdp.AsSpan(0, 8), Signature);
        AcpiTable.Ascii(rsdp.AsSpan(9, 6), AcpiTable.OemId);
        rsdp[15] = Revision;
        BinaryPrimitives.WriteUInt32LittleEndian(rsdp.AsSpan(16), rsdtAddress);
        BinaryPrimitives.WriteUInt32LittleEndian(rsdp.AsSpan(20), Size);
        BinaryPrimitives.WriteUInt64LittleEndian(rsdp.AsSpan(24), xsdtAddress);
        rsdp[8] = AcpiTable.Checksum(rsdp.AsSpan(0, 20));
        rsdp[32] = AcpiTable.Checksum(rsdp);
        return rsdp;
    }
}
