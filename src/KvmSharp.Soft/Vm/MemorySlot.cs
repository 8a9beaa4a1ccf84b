using KvmSharp.Abi;

namespace KvmSharp.Soft.Vm;

/// <summary>One guest-physical range backed by the caller's memory. Immutable but for its dirty bitmap.</summary>
internal sealed class MemorySlot(uint id, ulong baseGfn, ulong pages, ulong userspaceAddress, KvmMemoryFlags flags)
{
    /// <summary>The slot number as the caller gave it (address space in bits 16 and up).</summary>
    public uint Id { get; } = id;
    public ulong BaseGfn { get; } = baseGfn;
    public ulong Pages { get; } = pages;
    public ulong EndGfn => BaseGfn + Pages;
    public ulong UserspaceAddress { get; } = userspaceAddress;
    public KvmMemoryFlags Flags { get; } = flags;
    public bool ReadOnly => (Flags & KvmMemoryFlags.ReadOnly) != 0;

    /// <summary>One bit per page while KVM_MEM_LOG_DIRTY_PAGES is set, else null.</summary>
    public ulong[]? DirtyBitmap { get; } = (flags & KvmMemoryFlags.LogDirtyPages) != 0 ? new ulong[(pages + 63) / 64] : null;

    /// <summary>
    /// Pages whose host memory was not accessible when the slot was made
    /// (gfn ranges); empty in the normal case, so the check costs one test.
    /// </summary>
    public (ulong StartGfn, ulong EndGfn)[] InaccessiblePages { get; init; } = [];

    public bool IsInaccessible(ulong gfn)
    {
        foreach (var (start, end) in InaccessiblePages)
            if (gfn >= start && gfn < end)
                return true;
        return false;
    }

    public bool Contains(ulong gfn) => gfn >= BaseGfn && gfn < EndGfn;

    public void MarkDirty(ulong gfn)
    {
        if (DirtyBitmap is { } bitmap)
        {
            ulong page = gfn - BaseGfn;
            ulong bit = 1UL << (int)(page & 63);
            ref ulong word = ref bitmap[page >> 6];
            if ((Volatile.Read(ref word) & bit) == 0)
                Interlocked.Or(ref word, bit);
        }
    }
}
