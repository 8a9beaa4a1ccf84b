namespace KvmSharp.Vmm.Devices.Virtio;

/// <summary>One buffer of a chain: guest-physical, already checked to lie in RAM.</summary>
public readonly record struct ChainSegment(ulong Address, uint Length, bool DeviceWritable);

/// <summary>
/// A descriptor chain taken from the available ring, flattened (indirect tables
/// followed) and checked: every segment is in RAM, the device-readable segments
/// come before the device-writable ones, and the totals fit in 32 bits. The
/// readable bytes form one stream and the writable bytes another, whatever the
/// descriptor boundaries (VIRTIO_F_VERSION_1 implies any layout).
/// </summary>
public sealed class DescriptorChain
{
    // Large buffers are copied in pieces so that no span grows past what the memory hands out at once.
    internal const int MaxPiece = 1 << 20;

    private readonly IGuestMemory _memory;
    private readonly List<ChainSegment> _segments;

    internal DescriptorChain(IGuestMemory memory, ushort head, List<ChainSegment> segments, uint readableLength, uint writableLength)
    {
        _memory = memory;
        Head = head;
        _segments = segments;
        ReadableLength = readableLength;
        WritableLength = writableLength;
    }

    public ushort Head { get; }

    public IReadOnlyList<ChainSegment> Segments => _segments;

    public uint ReadableLength { get; }

    public uint WritableLength { get; }

    /// <summary>Copies readable bytes from <paramref name="offset"/> into the destination; returns how many there were.</summary>
    public int Read(uint offset, Span<byte> destination)
    {
        int copied = 0;
        foreach (var piece in Pieces(offset, (uint)destination.Length, writable: false))
        {
            _memory.Slice(piece.Address, (int)piece.Length).CopyTo(destination[copied..]);
            copied += (int)piece.Length;
        }
        return copied;
    }

    /// <summary>Copies the source into the writable bytes from <paramref name="offset"/>; returns how many fitted.</summary>
    public int Write(uint offset, ReadOnlySpan<byte> source)
    {
        int copied = 0;
        foreach (var piece in Pieces(offset, (uint)source.Length, writable: true))
        {
            source.Slice(copied, (int)piece.Length).CopyTo(_memory.Slice(piece.Address, (int)piece.Length));
            copied += (int)piece.Length;
        }
        return copied;
    }

    /// <summary>
    /// The readable or writable stream from <paramref name="offset"/> for up to
    /// <paramref name="length"/> bytes, as guest-physical pieces of at most 1 MiB,
    /// for devices that move data straight between guest RAM and a file.
    /// </summary>
    public IEnumerable<ChainSegment> Pieces(uint offset, uint length, bool writable)
    {
        ulong skip = offset, left = length;
        foreach (var segment in _segments)
        {
            if (left == 0)
                yield break;
            if (segment.DeviceWritable != writable)
                continue;
            if (skip >= segment.Length)
            {
                skip -= segment.Length;
                continue;
            }
            ulong address = segment.Address + skip;
            ulong available = segment.Length - skip;
            skip = 0;
            while (available > 0 && left > 0)
            {
                uint piece = (uint)Math.Min(Math.Min(available, left), MaxPiece);
                yield return new ChainSegment(address, piece, writable);
                address += piece;
                available -= piece;
                left -= piece;
            }
        }
    }

    /// <summary>The guest memory behind a piece from <see cref="Pieces"/>.</summary>
    public Span<byte> Memory(ChainSegment piece) => _memory.Slice(piece.Address, checked((int)piece.Length));
}
