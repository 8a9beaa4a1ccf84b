using System.Buffers.Binary;

namespace KvmSharp.Vmm.Tests.Boot;

/// <summary>Translates a linear address through 4-level tables in RAM, allowing 1 GiB and 2 MiB pages.</summary>
internal static class PageTableWalk
{
    private const ulong AddressMask = 0x000F_FFFF_FFFF_F000;

    public static ulong? Translate(ReadOnlySpan<byte> ram, ulong cr3, ulong linear)
    {
        ulong table = cr3 & AddressMask;
        for (int shift = 39; shift >= 12; shift -= 9)
        {
            ulong entry = BinaryPrimitives.ReadUInt64LittleEndian(ram[(int)(table + ((linear >> shift) & 0x1FF) * 8)..]);
            if ((entry & 1) == 0)
                return null;
            bool large = shift is 30 or 21 && (entry & 0x80) != 0;
            if (large || shift == 12)
            {
                ulong pageMask = (1UL << shift) - 1;
                return (entry & AddressMask & ~pageMask) | (linear & pageMask);
            }
            table = entry & AddressMask;
        }
        return null;
    }
}
