using System.Buffers.Binary;
using System.Text;

namespace KvmSharp.Vmm.Acpi;

/// <summary>
/// The 36-byte System Description Table header every ACPI table after the
/// RSDP starts with (ACPI 6.5, 5.2.6), and the checksum rule they share: all
/// bytes of the table sum to zero.
/// </summary>
public static class AcpiTable
{
    public const int HeaderSize = 36;
    public const string OemId = "KVMSHP";
    public const string OemTableId = "KVMSHARP";
    public const string CreatorId = "KVMS";
    public const uint OemRevision = 1;
    public const uint CreatorRevision = 1;

    /// <summary>A table of <paramref name="signature"/> with <paramref name="body"/> after the header, checksummed.</summary>
    public static byte[] Build(string signature, byte revision, ReadOnlySpan<byte> body)
    {
        var table = new byte[HeaderSize + body.Length];
        Ascii(table.AsSpan(0, 4), signature);
        BinaryPrimitives.WriteUInt32LittleEndian(table.AsSpan(4), (uint)table.Length);
        table[8] = revision;
        Ascii(table.AsSpan(10, 6), OemId);
        Ascii(table.AsSpan(16, 8), OemTableId);
        BinaryPrimitives.WriteUInt32LittleEndian(table.AsSpan(24), OemRevision);
        Ascii(table.AsSpan(28, 4), CreatorId);
        BinaryPrimitives.WriteUInt32LittleEndian(table.AsSpan(32), CreatorRevision);
        body.CopyTo(table.AsSpan(HeaderSize));
        table[9] = Checksum(table);
        return table;
    }

    /// <summary>The byte that makes <paramref name="bytes"/> (with that byte counted as zero) sum to zero.</summary>
    public static byte Checksum(ReadOnlySpan<byte> bytes)
    {
        byte sum = 0;
        foreach (byte b in bytes)
            sum += b;
        return (byte)-sum;
    }

    /// <summary>Writes <paramref name="text"/> padded with spaces, as OEM fields are.</summary>
    internal static void Ascii(Span<byte> field, string text)
    {
        field.Fill((byte)' ');
        Encoding.ASCII.GetBytes(text.AsSpan(0, Math.Min(text.Length, field.Length)), field);
    }
}
