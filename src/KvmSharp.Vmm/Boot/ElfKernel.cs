namespace KvmSharp.Vmm.Boot;

/// <summary>An uncompressed kernel's loadable segments, checked against guest RAM, and its physical entry point.</summary>
internal sealed class ElfKernel
{
    private ElfKernel(List<BootWrite> writes, ulong end, ulong? entry)
    {
        Writes = writes;
        End = end;
        Entry = entry;
    }

    public List<BootWrite> Writes { get; }

    /// <summary>First byte after the highest segment's memory image.</summary>
    public ulong End { get; }

    /// <summary>
    /// The ELF entry point as a physical address: Linux's vmlinux gives it
    /// physically already (phys_startup_64); other kernels may give a virtual
    /// address inside a segment. Null when it lies in no segment.
    /// </summary>
    public ulong? Entry { get; }

    public static ElfKernel Place(ElfImage elf, GuestMemoryLayout layout)
    {
        if (elf.LoadSegments.Count == 0)
            throw new BootImageException("The ELF kernel has no PT_LOAD segment.");
        var writes = new List<BootWrite>();
        ulong end = 0;
        ulong? physicalEntry = null, virtualEntry = null;
        foreach (var segment in elf.LoadSegments)
        {
            ulong segmentEnd = segment.PhysicalAddress + segment.MemorySize;
            if (segment.PhysicalAddress < GuestMemoryLayout.HighMemoryStart || segmentEnd > layout.LowRamEnd || segmentEnd < segment.PhysicalAddress)
                throw new BootImageException($"The ELF kernel's segment at physical 0x{segment.PhysicalAddress:x} (0x{segment.MemorySize:x} bytes) does not fit in guest RAM between 1 MiB and 0x{layout.LowRamEnd:x}.");
            // The zero-filled tail (BSS) needs no write: fresh guest RAM is zero.
            writes.Add(new BootWrite($"kernel segment 0x{segment.PhysicalAddress:x}", segment.PhysicalAddress, elf.Bytes(segment)));
            end = Math.Max(end, segmentEnd);
            if (elf.Entry >= segment.PhysicalAddress && elf.Entry - segment.PhysicalAddress < segment.MemorySize)
                physicalEntry ??= elf.Entry;
            if (elf.Entry >= segment.VirtualAddress && elf.Entry - segment.VirtualAddress < segment.MemorySize)
                virtualEntry ??= segment.PhysicalAddress + (elf.Entry - segment.VirtualAddress);
        }
        return new ElfKernel(writes, end, physicalEntry ?? virtualEntry);
    }
}
