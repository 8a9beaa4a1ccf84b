using System.Buffers.Binary;

namespace KvmSharp.Vmm.Boot;

/// <summary>
/// The setup header of a bzImage (Documentation/arch/x86/boot.rst), read and
/// checked for what a 64-bit direct boot needs.
/// </summary>
public sealed class SetupHeader
{
    /// <summary>Where the header starts, in the image and in boot_params alike.</summary>
    public const int Offset = 0x1F1;

    /// <summary>2.06 is the oldest protocol with cmdline_size; 64-bit entry itself came with 2.12's xloadflags.</summary>
    public const ushort MinimumVersion = 0x0206;

    public const uint HeaderMagic = 0x5372_6448; // "HdrS"
    public const ushort BootFlagMagic = 0xAA55;

    public const byte LoadedHigh = 0x01;
    public const byte CanUseHeap = 0x80;

    public const ushort XlfKernel64 = 0x01;
    public const ushort XlfCanBeLoadedAbove4G = 0x02;

    // Offsets inside the image (== inside boot_params).
    internal const int SetupSectsOffset = 0x1F1;
    internal const int SyssizeOffset = 0x1F4;
    internal const int BootFlagOffset = 0x1FE;
    internal const int JumpOffset = 0x200;
    internal const int MagicOffset = 0x202;
    internal const int VersionOffset = 0x206;
    internal const int TypeOfLoaderOffset = 0x210;
    internal const int LoadFlagsOffset = 0x211;
    internal const int RamdiskImageOffset = 0x218;
    internal const int RamdiskSizeOffset = 0x21C;
    internal const int HeapEndPtrOffset = 0x224;
    internal const int CmdLinePtrOffset = 0x228;
    internal const int InitrdAddrMaxOffset = 0x22C;
    internal const int KernelAlignmentOffset = 0x230;
    internal const int RelocatableKernelOffset = 0x234;
    internal const int XLoadFlagsOffset = 0x236;
    internal const int CmdlineSizeOffset = 0x238;
    internal const int PayloadOffsetOffset = 0x248;
    internal const int PayloadLengthOffset = 0x24C;
    internal const int PrefAddressOffset = 0x258;
    internal const int InitSizeOffset = 0x260;
    /// <summary>The last field this loader reads (init_size) ends here.</summary>
    private const int MinimumHeaderEnd = 0x264;

    private SetupHeader(byte[] raw)
    {
        Raw = raw;
        SetupSects = raw[SetupSectsOffset - Offset] == 0 ? (byte)4 : raw[SetupSectsOffset - Offset];
        Syssize = U32(SyssizeOffset);
        Version = U16(VersionOffset);
        LoadFlags = raw[LoadFlagsOffset - Offset];
        InitrdAddrMax = U32(InitrdAddrMaxOffset);
        KernelAlignment = U32(KernelAlignmentOffset);
        RelocatableKernel = raw[RelocatableKernelOffset - Offset] != 0;
        XLoadFlags = U16(XLoadFlagsOffset);
        CmdlineSize = U32(CmdlineSizeOffset);
        PayloadOffset = U32(PayloadOffsetOffset);
        PayloadLength = U32(PayloadLengthOffset);
        PrefAddress = BinaryPrimitives.ReadUInt64LittleEndian(raw.AsSpan(PrefAddressOffset - Offset));
        InitSize = U32(InitSizeOffset);
    }

    /// <summary>The header bytes as the image holds them, from 0x1F1 to the end the image declares.</summary>
    public byte[] Raw { get; }

    /// <summary>512-byte sectors of real-mode setup code after the boot sector (0 means 4, as the protocol says).</summary>
    public byte SetupSects { get; }

    /// <summary>Size of the protected-mode code in 16-byte paragraphs.</summary>
    public uint Syssize { get; }

    /// <summary>Boot protocol version, major in the high byte (0x020F is 2.15).</summary>
    public ushort Version { get; }

    public byte LoadFlags { get; }

    /// <summary>Highest address the initrd may occupy (its last byte).</summary>
    public uint InitrdAddrMax { get; }

    public uint KernelAlignment { get; }

    public bool RelocatableKernel { get; }

    public ushort XLoadFlags { get; }

    /// <summary>Longest command line, without its terminating NUL.</summary>
    public uint CmdlineSize { get; }

    public uint PayloadOffset { get; }

    public uint PayloadLength { get; }

    /// <summary>Where a non-relocated kernel wants to be loaded.</summary>
    public ulong PrefAddress { get; }

    /// <summary>Linear memory the kernel needs from its load address before it has set itself up.</summary>
    public uint InitSize { get; }

    /// <summary>The protected-mode kernel starts at this file offset.</summary>
    public int ProtectedModeOffset => (SetupSects + 1) * 512;

    public bool SupportsKernel64Entry => (XLoadFlags & XlfKernel64) != 0;

    public string VersionText => $"{Version >> 8}.{Version & 0xFF:d2}";

    /// <summary>True when <paramref name="image"/> starts like a bzImage (boot flag and "HdrS"), whatever its version.</summary>
    public static bool LooksLikeBzImage(ReadOnlySpan<byte> image) =>
        image.Length >= MagicOffset + 4
        && BinaryPrimitives.ReadUInt16LittleEndian(image[BootFlagOffset..]) == BootFlagMagic
        && BinaryPrimitives.ReadUInt32LittleEndian(image[MagicOffset..]) == HeaderMagic;

    /// <summary>Reads and checks the header of <paramref name="image"/>, a whole bzImage file.</summary>
    /// <exception cref="BootImageException">The image is not a bzImage this loader can boot.</exception>
    public static SetupHeader Parse(ReadOnlySpan<byte> image)
    {
        if (image.Length < VersionOffset + 2)
            throw new BootImageException($"The kernel image is truncated: {image.Length} bytes cannot hold a setup header, which ends past 0x{VersionOffset + 2:x}.");
        if (BinaryPrimitives.ReadUInt32LittleEndian(image[MagicOffset..]) != HeaderMagic)
            throw new BootImageException($"The kernel image is not a bzImage: no \"HdrS\" magic at 0x{MagicOffset:x} (found 0x{BinaryPrimitives.ReadUInt32LittleEndian(image[MagicOffset..]):x8}).");
        ushort bootFlag = BinaryPrimitives.ReadUInt16LittleEndian(image[BootFlagOffset..]);
        if (bootFlag != BootFlagMagic)
            throw new BootImageException($"The kernel image has boot_flag 0x{bootFlag:x4} at 0x{BootFlagOffset:x}; a bzImage has 0xaa55.");
        ushort version = BinaryPrimitives.ReadUInt16LittleEndian(image[VersionOffset..]);
        if (version < MinimumVersion)
            throw new BootImageException($"The kernel speaks boot protocol {version >> 8}.{version & 0xFF:d2}; at least 2.06 is needed.");

        // The jump at 0x200 skips the header; its 8-bit displacement marks where the header ends.
        int headerEnd = JumpOffset + 2 + image[JumpOffset + 1];
        if (image.Length < headerEnd)
            throw new BootImageException($"The kernel image is truncated inside its setup header ({image.Length} bytes, the header ends at 0x{headerEnd:x}).");
        // Older headers are shorter; the fields they lack read as zero.
        var raw = new byte[Math.Max(headerEnd, MinimumHeaderEnd) - Offset];
        image[Offset..headerEnd].CopyTo(raw);

        var header = new SetupHeader(raw);
        if (!header.SupportsKernel64Entry)
            throw new BootImageException($"The kernel (boot protocol {header.VersionText}, xloadflags 0x{header.XLoadFlags:x}) has no 64-bit entry point (XLF_KERNEL_64); only 64-bit kernels are booted.");
        long protectedModeEnd = (long)header.ProtectedModeOffset + header.Syssize * 16L;
        if (header.ProtectedModeOffset >= image.Length)
            throw new BootImageException($"The kernel image is truncated: {header.SetupSects} setup sectors end at 0x{header.ProtectedModeOffset:x}, past the file's {image.Length} bytes.");
        // syssize counts whole paragraphs, so the last one may be partial.
        if (protectedModeEnd > image.Length + 15L)
            throw new BootImageException($"The kernel image is truncated: syssize says the protected-mode kernel ends at 0x{protectedModeEnd:x}, the file has {image.Length} bytes.");
        if (header.RelocatableKernel && (header.KernelAlignment == 0 || (header.KernelAlignment & (header.KernelAlignment - 1)) != 0))
            throw new BootImageException($"The kernel's kernel_alignment 0x{header.KernelAlignment:x} is not a power of two.");
        return header;
    }

    private uint U32(int offset) => BinaryPrimitives.ReadUInt32LittleEndian(Raw.AsSpan(offset - Offset));

    private ushort U16(int offset) => BinaryPrimitives.ReadUInt16LittleEndian(Raw.AsSpan(offset - Offset));
}
