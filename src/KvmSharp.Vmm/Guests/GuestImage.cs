namespace KvmSharp.Vmm.Guests;

/// <summary>One run of bytes to place at a guest-physical address.</summary>
public sealed record GuestSegment(ulong Address, byte[] Bytes)
{
    public ulong End => Address + (ulong)Bytes.Length;
}

/// <summary>
/// What a guest needs in its RAM before the first KVM_RUN: a RAM size and the
/// segments to copy into it. Every byte outside the segments is zero.
/// </summary>
public sealed class GuestImage
{
    public GuestImage(ulong memorySize, IEnumerable<GuestSegment> segments)
    {
        MemorySize = memorySize;
        Segments = segments.OrderBy(s => s.Address).ToArray();
        foreach (var segment in Segments)
        {
            if (segment.End > memorySize || segment.End < segment.Address)
                throw new ArgumentException($"The segment at 0x{segment.Address:x} ({segment.Bytes.Length} bytes) does not fit in 0x{memorySize:x} bytes of guest RAM.", nameof(segments));
        }
    }

    /// <summary>Bytes of guest RAM the image expects, starting at guest-physical 0.</summary>
    public ulong MemorySize { get; }

    /// <summary>The segments in ascending address order.</summary>
    public IReadOnlyList<GuestSegment> Segments { get; }

    /// <summary>Zeroes <paramref name="guestRam"/> (guest-physical 0 onwards) and writes the segments into it.</summary>
    public void CopyTo(Span<byte> guestRam)
    {
        if ((ulong)guestRam.Length < MemorySize)
            throw new ArgumentException($"The image needs 0x{MemorySize:x} bytes of guest RAM; 0x{guestRam.Length:x} were given.", nameof(guestRam));
        guestRam.Clear();
        foreach (var segment in Segments)
            segment.Bytes.CopyTo(guestRam[(int)segment.Address..]);
    }

    /// <summary>The whole RAM content as one array (for kernels or tests that want a flat copy).</summary>
    public byte[] ToArray()
    {
        var ram = new byte[MemorySize];
        CopyTo(ram);
        return ram;
    }
}
