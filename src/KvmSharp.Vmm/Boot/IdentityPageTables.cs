using System.Buffers.Binary;

namespace KvmSharp.Vmm.Boot;

/// <summary>
/// 4-level page tables that identity-map the first 4 GiB with 2 MiB pages:
/// what the 64-bit boot protocol asks for (the kernel, boot_params and the
/// command line mapped 1:1), in six pages whatever the guest size.
/// </summary>
public static class IdentityPageTables
{
    public const ulong MappedBytes = GuestMemoryLayout.FourGiB;
    public const int Pages = 2 + (int)(MappedBytes >> 30);
    public const ulong Pml4Address = GuestMemoryLayout.PageTablesAddress;

    // Present, writable, accessed (and dirty, for leaves) preset: nothing is written back during the walk.
    private const ulong TableEntryFlags = 0x1 | 0x2 | 0x20;
    private const ulong LargePageFlags = TableEntryFlags | 0x40 | 0x80;

    /// <summary>The table pages, to be written at <see cref="Pml4Address"/>.</summary>
    public static byte[] Build()
    {
        var bytes = new byte[Pages * 4096];
        ulong pdpt = Pml4Address + 4096;
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, pdpt | TableEntryFlags);
        for (int gib = 0; gib < Pages - 2; gib++)
        {
            ulong directory = pdpt + 4096 * (ulong)(gib + 1);
            BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(4096 + gib * 8), directory | TableEntryFlags);
            for (int entry = 0; entry < 512; entry++)
            {
                ulong page = ((ulong)gib << 30) | ((ulong)entry << 21);
                BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(4096 * (gib + 2) + entry * 8), page | LargePageFlags);
            }
        }
        return bytes;
    }
}
