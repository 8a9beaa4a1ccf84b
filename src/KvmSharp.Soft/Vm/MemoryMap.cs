using KvmSharp.Abi;
using KvmSharp.Soft.Cpu;
using KvmSharp.Soft.Model;

namespace KvmSharp.Soft.Vm;

/// <summary>
/// The VM's memory slots. vCPU threads read an immutable, sorted snapshot
/// without locks; changes build a new snapshot and publish it, then the VM
/// makes every vCPU drop what it cached from the old one before the ioctl returns.
/// </summary>
internal sealed unsafe class MemoryMap : IGuestMemory
{
    private volatile MemorySlot[] _slots = [];
    private readonly Lock _writeLock = new();

    public MemorySlot? FindById(uint id) => Array.Find(_slots, s => s.Id == id);

    public MemorySlot? FindByGfn(ulong gfn)
    {
        MemorySlot[] slots = _slots;
        int low = 0, high = slots.Length - 1;
        while (low <= high)
        {
            int middle = (low + high) >>> 1;
            MemorySlot slot = slots[middle];
            if (gfn < slot.BaseGfn)
                high = middle - 1;
            else if (gfn >= slot.EndGfn)
                low = middle + 1;
            else
                return slot;
        }
        return null;
    }

    public byte* GetHostPage(ulong gpaPageAligned, bool write)
    {
        ulong gfn = gpaPageAligned >> SoftLimits.PageShift;
        MemorySlot? slot = FindByGfn(gfn);
        if (slot is null || (write && slot.ReadOnly))
            return null;
        // KVM's emulator cannot copy from such memory either, and handles the
        // access as MMIO; Soft does the same rather than let the process fault.
        if (slot.InaccessiblePages.Length != 0 && slot.IsInaccessible(gfn))
            return null;
        if (write)
            slot.MarkDirty(gfn);
        return (byte*)(slot.UserspaceAddress + ((gfn - slot.BaseGfn) << SoftLimits.PageShift));
    }

    /// <summary>
    /// KVM_SET_USER_MEMORY_REGION with KVM's checks in KVM's order. Returns 0 or
    /// a negated errno; a refused call leaves the map as it was.
    /// </summary>
    public int Set(in KvmUserspaceMemoryRegion region)
    {
        const KvmMemoryFlags validFlags = KvmMemoryFlags.LogDirtyPages | KvmMemoryFlags.ReadOnly;
        const ulong pageMask = SoftLimits.PageSize - 1;
        if ((region.Flags & ~validFlags) != 0)
            return -(int)Errno.EINVAL;
        uint addressSpace = region.Slot >> 16, id = region.Slot & 0xffff;
        // Soft has no SMM, so only address space 0 exists.
        if (addressSpace != 0 || id >= SoftLimits.MemorySlots)
            return -(int)Errno.EINVAL;
        if ((region.MemorySize & pageMask) != 0 || (region.GuestPhysAddr & pageMask) != 0)
            return -(int)Errno.EINVAL;
        if ((region.UserspaceAddr & pageMask) != 0 || region.UserspaceAddr + region.MemorySize < region.UserspaceAddr
            || region.UserspaceAddr + region.MemorySize > SoftLimits.UserAddressLimit)
            return -(int)Errno.EINVAL;
        if (region.GuestPhysAddr + region.MemorySize < region.GuestPhysAddr)
            return -(int)Errno.EINVAL;
        ulong pages = region.MemorySize >> SoftLimits.PageShift;
        if (pages > SoftLimits.MaxSlotPages)
            return -(int)Errno.EINVAL;

        lock (_writeLock)
        {
            MemorySlot? old = FindById(region.Slot);
            ulong baseGfn = region.GuestPhysAddr >> SoftLimits.PageShift;
            if (pages == 0)
            {
                if (old is null)
                    return -(int)Errno.EINVAL;
                Publish(old, null);
                return 0;
            }
            if (old is not null)
            {
                // An existing slot may move or change its logging, nothing else.
                if (region.UserspaceAddr != old.UserspaceAddress || pages != old.Pages
                    || ((region.Flags ^ old.Flags) & KvmMemoryFlags.ReadOnly) != 0)
                    return -(int)Errno.EINVAL;
                if (baseGfn == old.BaseGfn && region.Flags == old.Flags)
                    return 0;
            }
            bool moves = old is null || baseGfn != old.BaseGfn;
            if (moves && Overlaps(region.Slot, baseGfn, baseGfn + pages))
                return -(int)Errno.EEXIST;
            Publish(old, new MemorySlot(region.Slot, baseGfn, pages, region.UserspaceAddr, region.Flags)
            {
                InaccessiblePages = FindInaccessiblePages(region, baseGfn),
            });
            return 0;
        }
    }

    /// <summary>KVM accepts any user range; Soft notes now which pages it must never dereference.</summary>
    private static (ulong, ulong)[] FindInaccessiblePages(in KvmUserspaceMemoryRegion region, ulong baseGfn)
    {
        bool needWrite = (region.Flags & KvmMemoryFlags.ReadOnly) == 0;
        ulong start = region.UserspaceAddr;
        return Handles.ProcessMappings.Inaccessible(start, start + region.MemorySize, needWrite)
            .Select(hole => (baseGfn + ((hole.Start - start) >> SoftLimits.PageShift),
                             baseGfn + ((hole.End - start + SoftLimits.PageSize - 1) >> SoftLimits.PageShift)))
            .ToArray();
    }

    private bool Overlaps(uint exceptId, ulong startGfn, ulong endGfn) =>
        _slots.Any(s => s.Id != exceptId && s.BaseGfn < endGfn && startGfn < s.EndGfn);

    private void Publish(MemorySlot? remove, MemorySlot? add)
    {
        var next = _slots.Where(s => s != remove).ToList();
        if (add is not null)
            next.Add(add);
        next.Sort((a, b) => a.BaseGfn.CompareTo(b.BaseGfn));
        _slots = next.ToArray();
    }
}
