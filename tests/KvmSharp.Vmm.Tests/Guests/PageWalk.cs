using System.Buffers.Binary;
using KvmSharp.Vmm.Guests;

namespace KvmSharp.Vmm.Tests.Guests;

internal static class PageWalk
{
    private const ulong AddressMask = 0x000F_FFFF_FFFF_F000;

    /// <summary>
    /// The leaf entry that maps <paramref name="address"/> through 4-level tables
    /// in <paramref name="ram"/>, or 0 when some level is not present. Checks on
    /// the way that the mapping is the identity and that upper levels grant all rights.
    /// </summary>
    public static ulong Leaf(ReadOnlySpan<byte> ram, ulong pml4, ulong address)
    {
        ulong table = pml4;
        for (int shift = 39; shift > 12; shift -= 9)
        {
            ulong entry = Entry(ram, table, address, shift);
            if ((entry & X86.PtePresent) == 0)
                return 0;
            Assert.Equal(X86.PteUser | X86.PteWritable, entry & (X86.PteUser | X86.PteWritable));
            table = entry & AddressMask;
        }
        ulong leaf = Entry(ram, table, address, 12);
        if ((leaf & X86.PtePresent) != 0)
            Assert.Equal(address & ~0xFFFUL, leaf & AddressMask);
        return leaf;
    }

    /// <summary>The U/S and R/W bits of the leaf entry that maps <paramref name="address"/>.</summary>
    public static ulong Rights(ReadOnlySpan<byte> ram, ulong pml4, ulong address) =>
        Leaf(ram, pml4, address) & (X86.PteUser | X86.PteWritable);

    private static ulong Entry(ReadOnlySpan<byte> ram, ulong table, ulong address, int shift) =>
        BinaryPrimitives.ReadUInt64LittleEndian(ram.Slice((int)(table + ((address >> shift) & 0x1FF) * 8), 8));
}
