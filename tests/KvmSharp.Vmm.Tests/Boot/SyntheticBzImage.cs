using System.Buffers.Binary;

namespace KvmSharp.Vmm.Tests.Boot;

/// <summary>A minimal bzImage-shaped file whose header fields a test chooses.</summary>
internal sealed class SyntheticBzImage
{
    public byte SetupSects { get; init; } = 1;
    public ushort Version { get; init; } = 0x020F;
    public ushort XLoadFlags { get; init; } = 0x7F;
    public uint InitSize { get; init; } = 0x40_0000;
    public ulong PrefAddress { get; init; } = 0x100_0000;
    public uint InitrdAddrMax { get; init; } = 0x7FFF_FFFF;
    public uint CmdlineSize { get; init; } = 0x7FF;
    public int KernelBytes { get; init; } = 0x3000;
    public uint? SyssizeOverride { get; init; }
    /// <summary>Code for the 64-bit entry point, 0x200 into the protected-mode kernel.</summary>
    public byte[] Entry64Code { get; init; } = [];
    /// <summary>The compressed kernel, placed at the protected-mode kernel's start (payload_offset 0).</summary>
    public byte[]? Payload { get; init; }

    public byte[] Build()
    {
        int setupEnd = (SetupSects + 1) * 512;
        int kernelBytes = Payload?.Length ?? KernelBytes;
        var image = new byte[setupEnd + kernelBytes];
        var span = image.AsSpan();
        span[0x1F1] = SetupSects;
        BinaryPrimitives.WriteUInt32LittleEndian(span[0x1F4..], SyssizeOverride ?? (uint)((kernelBytes + 15) / 16));
        BinaryPrimitives.WriteUInt16LittleEndian(span[0x1FE..], 0xAA55);
        span[0x200] = 0xEB;
        span[0x201] = 0x66; // header ends at 0x268, as 2.15's does
        "HdrS"u8.CopyTo(span[0x202..]);
        BinaryPrimitives.WriteUInt16LittleEndian(span[0x206..], Version);
        span[0x211] = 0x01; // LOADED_HIGH
        BinaryPrimitives.WriteUInt32LittleEndian(span[0x22C..], InitrdAddrMax);
        BinaryPrimitives.WriteUInt32LittleEndian(span[0x230..], 0x20_0000);
        span[0x234] = 1;
        BinaryPrimitives.WriteUInt16LittleEndian(span[0x236..], XLoadFlags);
        BinaryPrimitives.WriteUInt32LittleEndian(span[0x238..], CmdlineSize);
        BinaryPrimitives.WriteUInt64LittleEndian(span[0x258..], PrefAddress);
        BinaryPrimitives.WriteUInt32LittleEndian(span[0x260..], InitSize);
        for (int i = setupEnd; i < image.Length; i++)
            image[i] = (byte)(i * 7);
        if (Entry64Code.Length > 0)
            Entry64Code.CopyTo(image, setupEnd + 0x200);
        if (Payload is not null)
        {
            Payload.CopyTo(image, setupEnd);
            BinaryPrimitives.WriteUInt32LittleEndian(span[0x24C..], (uint)Payload.Length);
        }
        return image;
    }
}
