using System.Buffers.Binary;
using System.Text;

namespace KvmSharp.Vmm.Acpi;

/// <summary>
/// Encodes the few ACPI Machine Language terms a minimal DSDT needs (ACPI 6.5,
/// chapter 20): names, integers, strings, buffers, packages, scopes and devices.
/// Each method returns the term's bytes, ready to nest in another term.
/// </summary>
public static class Aml
{
    private const byte ZeroOp = 0x00, OneOp = 0x01, OnesOp = 0xFF;
    private const byte NameOp = 0x08, BytePrefix = 0x0A, WordPrefix = 0x0B, DWordPrefix = 0x0C, StringPrefix = 0x0D, QWordPrefix = 0x0E;
    private const byte ScopeOp = 0x10, BufferOp = 0x11, PackageOp = 0x12;
    private const byte ExtOpPrefix = 0x5B, DeviceOp = 0x82;
    private const byte RootChar = (byte)'\\', DualNamePrefix = 0x2E, MultiNamePrefix = 0x2F;

    /// <summary>A NameString: "\_SB_.COM1" style paths, each segment up to four characters (padded with '_').</summary>
    public static byte[] NameString(string path)
    {
        var bytes = new List<byte>();
        if (path.StartsWith('\\'))
        {
            bytes.Add(RootChar);
            path = path[1..];
        }
        var segments = path.Split('.', StringSplitOptions.RemoveEmptyEntries);
        if (segments.Length == 2)
            bytes.Add(DualNamePrefix);
        else if (segments.Length > 2)
            bytes.AddRange([MultiNamePrefix, (byte)segments.Length]);
        foreach (string segment in segments)
        {
            if (segment.Length is 0 or > 4 || !(char.IsAsciiLetterUpper(segment[0]) || segment[0] == '_') || !segment.All(c => char.IsAsciiLetterUpper(c) || char.IsAsciiDigit(c) || c == '_'))
                throw new ArgumentException($"\"{segment}\" is not an AML name segment (1-4 of A-Z, 0-9, _; not starting with a digit).", nameof(path));
            bytes.AddRange(Encoding.ASCII.GetBytes(segment.PadRight(4, '_')));
        }
        if (segments.Length == 0)
            bytes.Add(0); // NullName
        return [.. bytes];
    }

    /// <summary>The shortest integer encoding of <paramref name="value"/>.</summary>
    public static byte[] Integer(ulong value) => value switch
    {
        0 => [ZeroOp],
        1 => [OneOp],
        ulong.MaxValue => [OnesOp],
        <= byte.MaxValue => [BytePrefix, (byte)value],
        <= ushort.MaxValue => [WordPrefix, (byte)value, (byte)(value >> 8)],
        <= uint.MaxValue => Prefixed(DWordPrefix, 4, value),
        _ => Prefixed(QWordPrefix, 8, value),
    };

    public static byte[] String(string value) => [StringPrefix, .. Encoding.ASCII.GetBytes(value), 0];

    /// <summary>Name(path, object).</summary>
    public static byte[] Name(string path, byte[] value) => [NameOp, .. NameString(path), .. value];

    public static byte[] Buffer(ReadOnlySpan<byte> contents)
    {
        byte[] size = Integer((ulong)contents.Length);
        return [BufferOp, .. PackageLength(size.Length + contents.Length), .. size, .. contents];
    }

    public static byte[] Package(params byte[][] elements)
    {
        if (elements.Length > 255)
            throw new ArgumentException("A Package holds at most 255 elements; use VarPackage for more.", nameof(elements));
        byte[] body = [(byte)elements.Length, .. elements.SelectMany(e => e)];
        return [PackageOp, .. PackageLength(body.Length), .. body];
    }

    public static byte[] Scope(string path, params byte[][] terms)
    {
        byte[] body = [.. NameString(path), .. terms.SelectMany(t => t)];
        return [ScopeOp, .. PackageLength(body.Length), .. body];
    }

    public static byte[] Device(string name, params byte[][] terms)
    {
        byte[] body = [.. NameString(name), .. terms.SelectMany(t => t)];
        return [ExtOpPrefix, DeviceOp, .. PackageLength(body.Length), .. body];
    }

    /// <summary>The 32-bit compressed EISA id of "PNP0501"-style ids, as the EISAID() macro gives.</summary>
    public static uint EisaId(string id)
    {
        if (id.Length != 7 || !id[..3].All(char.IsAsciiLetterUpper) || !id[3..].All(char.IsAsciiHexDigit))
            throw new ArgumentException($"\"{id}\" is not an EISA id (three capitals and four hex digits).", nameof(id));
        int vendor = ((id[0] - '@') << 10) | ((id[1] - '@') << 5) | (id[2] - '@');
        int product = Convert.ToInt32(id[3..], 16);
        // Stored big-endian: vendor bytes, then product bytes.
        return (uint)(((vendor >> 8) & 0xFF) | ((vendor & 0xFF) << 8) | (((product >> 8) & 0xFF) << 16) | ((product & 0xFF) << 24));
    }

    /// <summary>
    /// A PkgLength for <paramref name="contentLength"/> bytes that follow it; the
    /// encoded value counts the PkgLength bytes themselves too.
    /// </summary>
    public static byte[] PackageLength(int contentLength)
    {
        if (contentLength + 1 < 0x40)
            return [(byte)(contentLength + 1)];
        for (int extra = 1; extra <= 3; extra++)
        {
            int total = contentLength + 1 + extra;
            if (total < 1 << (4 + 8 * extra))
            {
                var bytes = new byte[1 + extra];
                bytes[0] = (byte)((extra << 6) | (total & 0xF));
                for (int i = 1; i <= extra; i++)
                    bytes[i] = (byte)(total >> (4 + 8 * (i - 1)));
                return bytes;
            }
        }
        throw new ArgumentOutOfRangeException(nameof(contentLength), "An AML package cannot exceed 256 MiB.");
    }

    private static byte[] Prefixed(byte prefix, int size, ulong value)
    {
        var bytes = new byte[1 + size];
        bytes[0] = prefix;
        if (size == 4)
            BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(1), (uint)value);
        else
            BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(1), value);
        return bytes;
    }
}
