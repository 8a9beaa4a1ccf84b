using System.Buffers.Binary;
using System.IO.Compression;

namespace KvmSharp.Vmm.Boot;

/// <summary>
/// Unpacks the vmlinux ELF a bzImage carries (payload_offset/payload_length,
/// protocol 2.08+), so that a kernel shipped only as vmlinuz can be entered
/// through PVH or at startup_64 without running its decompressor. Gzip and
/// LZ4 (the kernel's legacy frame, which Debian's cloud kernel uses) are read.
/// </summary>
public static class BzImagePayload
{
    private const uint Lz4LegacyMagic = 0x184C_2102;
    /// <summary>The kernel appends the decompressed size; it bounds what a hostile payload can make us allocate.</summary>
    private const int MaxVmlinuxSize = 512 << 20;

    /// <summary>The compressed payload's bytes, straight from the image.</summary>
    public static ReadOnlyMemory<byte> Compressed(ReadOnlyMemory<byte> image)
    {
        var header = SetupHeader.Parse(image.Span);
        if (header.Version < 0x0208 || header.PayloadLength == 0)
            throw new BootImageException($"The kernel (boot protocol {header.VersionText}) does not describe its payload; 2.08 or later is needed.");
        ulong start = (ulong)header.ProtectedModeOffset + header.PayloadOffset;
        if (start + header.PayloadLength > (ulong)image.Length)
            throw new BootImageException($"The kernel image is truncated: its payload ends at 0x{start + header.PayloadLength:x}, past the file's {image.Length} bytes.");
        return image.Slice((int)start, (int)header.PayloadLength);
    }

    /// <summary>The decompressed payload: the kernel's vmlinux as an ELF file.</summary>
    public static byte[] ExtractVmlinux(ReadOnlyMemory<byte> image)
    {
        var payload = Compressed(image).Span;
        if (payload.Length < 8)
            throw new BootImageException($"The kernel's payload is only {payload.Length} bytes.");
        int size = (int)Math.Min(BinaryPrimitives.ReadUInt32LittleEndian(payload[^4..]), (uint)MaxVmlinuxSize);
        byte[] vmlinux = payload[0] == 0x1F && payload[1] == 0x8B ? Gunzip(payload, size)
            : BinaryPrimitives.ReadUInt32LittleEndian(payload) == Lz4LegacyMagic ? Lz4Legacy(payload[4..^4], size)
            : throw new BootImageException($"The kernel's payload is compressed with a format this loader does not read (it starts {Convert.ToHexString(payload[..6])}); gzip and LZ4 are supported.");
        if (!ElfImage.LooksLikeElf(vmlinux))
            throw new BootImageException("The kernel's decompressed payload is not an ELF file.");
        return vmlinux;
    }

    private static byte[] Gunzip(ReadOnlySpan<byte> payload, int size)
    {
        using var input = new MemoryStream(payload.ToArray());
        using var gzip = new GZipStream(input, CompressionMode.Decompress);
        using var output = new MemoryStream(size);
        var buffer = new byte[1 << 16];
        try
        {
            int read;
            while ((read = gzip.Read(buffer)) > 0)
            {
                if (output.Length + read > MaxVmlinuxSize)
                    throw new BootImageException($"The kernel's gzip payload inflates past {MaxVmlinuxSize >> 20} MiB.");
                output.Write(buffer, 0, read);
            }
        }
        catch (InvalidDataException e)
        {
            throw new BootImageException($"The kernel's gzip payload is corrupt: {e.Message}");
        }
        return output.ToArray();
    }

    /// <summary>A sequence of LZ4 blocks, each preceded by its compressed size (the "-l" legacy frame).</summary>
    private static byte[] Lz4Legacy(ReadOnlySpan<byte> frames, int size)
    {
        var output = new byte[size];
        int written = 0, position = 0;
        while (frames.Length - position >= 4)
        {
            uint blockSize = BinaryPrimitives.ReadUInt32LittleEndian(frames[position..]);
            position += 4;
            if (blockSize == Lz4LegacyMagic)
                continue; // concatenated frames
            if (blockSize > (uint)(frames.Length - position))
                throw new BootImageException($"An LZ4 block of the kernel's payload claims {blockSize} bytes; {frames.Length - position} remain.");
            written = Lz4Block(frames.Slice(position, (int)blockSize), output, written);
            position += (int)blockSize;
        }
        return written == output.Length ? output : output[..written];
    }

    private static int Lz4Block(ReadOnlySpan<byte> block, byte[] output, int written)
    {
        int position = 0;
        while (position < block.Length)
        {
            byte token = block[position++];
            int literals = ExtendedLength(block, ref position, token >> 4);
            if (literals > block.Length - position || literals > output.Length - written)
                throw Corrupt("literals run past the block or the announced size");
            block.Slice(position, literals).CopyTo(output.AsSpan(written));
            position += literals;
            written += literals;
            if (position == block.Length)
                break; // the last sequence has literals only
            if (block.Length - position < 2)
                throw Corrupt("a match offset is cut off");
            int offset = block[position] | (block[position + 1] << 8);
            position += 2;
            int match = ExtendedLength(block, ref position, token & 0xF) + 4;
            if (offset == 0 || offset > written || match > output.Length - written)
                throw Corrupt("a match reaches outside the output");
            if (offset >= match)
            {
                output.AsSpan(written - offset, match).CopyTo(output.AsSpan(written));
                written += match;
            }
            else
            {
                // Byte by byte: the match overlaps the bytes it produces (a repeated pattern).
                for (int i = 0; i < match; i++, written++)
                    output[written] = output[written - offset];
            }
        }
        return written;
    }

    private static int ExtendedLength(ReadOnlySpan<byte> block, ref int position, int nibble)
    {
        int length = nibble;
        if (nibble != 15)
            return length;
        byte next;
        do
        {
            if (position >= block.Length)
                throw Corrupt("a length is cut off");
            next = block[position++];
            length += next;
            if (length > MaxVmlinuxSize)
                throw Corrupt("a length is absurd");
        }
        while (next == 255);
        return length;
    }

    private static BootImageException Corrupt(string what) => new($"The kernel's LZ4 payload is corrupt: {what}.");
}
