using System.Buffers.Binary;
using KvmSharp.Abi;

namespace KvmSharp.Vmm.Boot;

/// <summary>
/// The GDT a kernel finds loaded at its entry: flat 4 GiB segments with the
/// selectors Linux's boot protocol names (__BOOT_CS 0x10, __BOOT_DS 0x18), a
/// 32-bit code segment for PVH's protected-mode entry, and a TSS so that TR
/// holds a valid descriptor as VM entry requires.
/// </summary>
public static class BootGdt
{
    public const ushort Code32Selector = 0x08;
    public const ushort Code64Selector = 0x10;
    public const ushort DataSelector = 0x18;
    public const ushort TssSelector = 0x20;

    /// <summary>Six slots: null, code32, code64, data, and the TSS's 16-byte long-mode descriptor.</summary>
    public const int Size = 6 * 8;
    public const ulong TssAddress = GuestMemoryLayout.GdtAddress + 0x40;
    public const int TssSize = 104;

    /// <summary>The GDT bytes for <see cref="GuestMemoryLayout.GdtAddress"/>, followed by a zeroed TSS.</summary>
    public static byte[] Build()
    {
        var bytes = new byte[(int)(TssAddress - GuestMemoryLayout.GdtAddress) + TssSize];
        // Access: present, code/data, type with the accessed bit preset so the CPU never writes it back.
        // Flags: G (4 KiB granularity), D/B (32-bit), L (64-bit code).
        Write(bytes, Code32Selector, Descriptor(0, 0xFFFFF, access: 0x9B, flags: 0xC));
        Write(bytes, Code64Selector, Descriptor(0, 0xFFFFF, access: 0x9B, flags: 0xA));
        Write(bytes, DataSelector, Descriptor(0, 0xFFFFF, access: 0x93, flags: 0xC));
        // A busy TSS: KVM_SET_SREGS loads TR as if LTR had already run.
        Write(bytes, TssSelector, Descriptor(TssAddress, TssSize - 1, access: 0x8B, flags: 0));
        BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(TssSelector + 8), TssAddress >> 32);
        // No I/O permission bitmap: its base lies past the limit.
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan((int)(TssAddress - GuestMemoryLayout.GdtAddress) + 0x66), TssSize);
        return bytes;
    }

    /// <summary>The hidden segment state a load of <paramref name="selector"/> from this GDT gives.</summary>
    public static KvmSegment SegmentCache(ushort selector)
    {
        ulong descriptor = BinaryPrimitives.ReadUInt64LittleEndian(Build().AsSpan(selector & ~7));
        byte access = (byte)(descriptor >> 40);
        byte flags = (byte)((descriptor >> 52) & 0xF);
        bool granular = (flags & 8) != 0;
        uint rawLimit = (uint)(descriptor & 0xFFFF) | (uint)((descriptor >> 32) & 0xF_0000);
        return new KvmSegment
        {
            Base = ((descriptor >> 16) & 0xFF_FFFF) | (((descriptor >> 56) & 0xFF) << 24),
            Limit = granular ? (rawLimit << 12) | 0xFFF : rawLimit,
            Selector = selector,
            Type = (byte)(access & 0xF),
            Present = (byte)(access >> 7),
            Dpl = (byte)((access >> 5) & 3),
            S = (byte)((access >> 4) & 1),
            Db = (byte)((flags >> 2) & 1),
            L = (byte)((flags >> 1) & 1),
            G = granular ? (byte)1 : (byte)0,
        };
    }

    private static ulong Descriptor(ulong baseAddress, uint limit, byte access, byte flags) =>
        (limit & 0xFFFF)
        | ((baseAddress & 0xFF_FFFF) << 16)
        | ((ulong)access << 40)
        | ((ulong)((limit >> 16) & 0xF) << 48)
        | ((ulong)flags << 52)
        | (((baseAddress >> 24) & 0xFF) << 56);

    private static void Write(byte[] gdt, ushort selector, ulong descriptor) =>
        BinaryPrimitives.WriteUInt64LittleEndian(gdt.AsSpan(selector & ~7), descriptor);
}
