namespace KvmSharp.Vmm.Boot;

/// <summary>An uncompressed kernel's loadable segments, checked against guest RAM, and its physical entry point.</summary>
internal sealed class ElfKernel
{
    private ElfKernel(List<BootWrite> writes, ulong end, ulong entry)
    {
        Writes = writes;
        End = end;
        Entry = entry;
    }

    public List<BootWrite> Writes { get; }

    /// <summary>First byte after the highest segment's memory image.</summary>
    public ulong End { get; }

    public ulong Entry { get; }

    public static ElfKernel Place(ElfImage elf, GuestMemoryLayout layout, ulong virtualEntry)
    {
        if (elf.LoadSegments.Count == 0)
            throw new BootImageException("The ELF kernel has no PT_LOAD segment.");
        var writes = new List<BootWrite>();
        ulong end = 0;
        ulong? entry = null;
        foreach (var segment in elf.LoadSegments)
        {
            ulong segmentEnd = segment.PhysicalAddress + segment.MemorySize;
            if (segment.PhysicalAddress < GuestMemoryLayout.HighMemoryStart || segmentEnd > layout.LowRamEnd || segmentEnd < segment.PhysicalAddress)
                throw new BootImageException($"The ELF kernel's segment at physical 0x{segment.PhysicalAddress:x} (0x{segment.MemorySize:x} bytes) does not fit in guest RAM between 1 MiB and 0x{layout.LowRamEnd:x}.");
            // The zero-filled tail (BSS) needs no write: fresh guest RAM is zero.
            writes.Add(new BootWrite($"kernel segment 0x{segment.PhysicalAddress:x}", segment.PhysicalAddress, elf.Bytes(segment)));
            end = Math.Max(end, segmentEnd);
            if (virtualEntry >= segment.VirtualAddress && virtualEntry - segment.VirtualAddress < segment.MemorySize)
                entry ??= segment.PhysicalAddress + (virtualEntry - segment.VirtualAddress);
        }
        return new ElfKernel(writes, end, entry ?? throw new BootImageException($"The ELF kernel's entry point 0x{virtualEntry:x} lies in none of its segments."));
    }
}
