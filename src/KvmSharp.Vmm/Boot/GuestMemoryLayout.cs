namespace KvmSharp.Vmm.Boot;

/// <summary>
/// Where the boot plumbing puts things in guest-physical memory, and the e820
/// map that tells the kernel about it. Everything the loader writes lives in
/// the first MiB except the kernel, initrd and (for large guests) RAM above 4 GiB.
/// </summary>
/// <remarks>
/// RAM starts at guest-physical 0. A guest larger than <see cref="MmioHoleStart"/>
/// continues at 4 GiB, leaving [3 GiB, 4 GiB) for the LAPIC, the IOAPIC and MMIO
/// devices: the runner then needs two memory slots (see <see cref="RamRegions"/>).
/// </remarks>
public sealed class GuestMemoryLayout
{
    public const ulong GdtAddress = 0x500;
    public const ulong BootStackTop = 0x8FF0;
    /// <summary>boot_params (the "zero page"), or PVH's hvm_start_info.</summary>
    public const ulong ZeroPageAddress = 0x7000;
    /// <summary>PML4, PDPT and four page directories: 2 MiB pages identity-mapping 4 GiB.</summary>
    public const ulong PageTablesAddress = 0x9000;
    public const ulong CommandLineAddress = 0x20000;
    /// <summary>Room for the command line up to the real-mode area's end.</summary>
    public const ulong CommandLineLimit = 0x10000;
    /// <summary>PVH's memmap and module list, after hvm_start_info.</summary>
    public const ulong PvhTablesAddress = 0x7100;
    /// <summary>Top of conventional memory; the 1 KiB below is where an EBDA would be.</summary>
    public const ulong EbdaStart = 0x9FC00;
    public const ulong LowMemoryEnd = 0xA0000;
    /// <summary>The BIOS area: ACPI tables from here (the RSDP is searched for in 0xE0000-0xFFFFF), then the MP table.</summary>
    public const ulong BiosAreaStart = 0xE0000;
    public const ulong BiosAreaEnd = 0x100000;
    public const ulong HighMemoryStart = 0x100000;
    public const ulong MmioHoleStart = 0xC000_0000;
    public const ulong FourGiB = 0x1_0000_0000;

    public GuestMemoryLayout(ulong memorySize)
    {
        if (memorySize % 4096 != 0)
            throw new BootImageException($"Guest RAM must be a multiple of 4 KiB; 0x{memorySize:x} bytes is not.");
        if (memorySize < 16 << 20)
            throw new BootImageException($"Guest RAM of {memorySize >> 10} KiB is too small to boot Linux; give at least 16 MiB.");
        MemorySize = memorySize;
        LowRamEnd = Math.Min(memorySize, MmioHoleStart);
        var regions = new List<(ulong, ulong)> { (0, LowRamEnd) };
        if (memorySize > MmioHoleStart)
            regions.Add((FourGiB, memorySize - MmioHoleStart));
        RamRegions = regions;
    }

    public ulong MemorySize { get; }

    /// <summary>End of the RAM that starts at guest-physical 0 (below the MMIO hole).</summary>
    public ulong LowRamEnd { get; }

    /// <summary>The guest-physical ranges backed by RAM, as (address, size): one memory slot each.</summary>
    public IReadOnlyList<(ulong Address, ulong Size)> RamRegions { get; }

    /// <summary>
    /// The e820 map: conventional memory, the EBDA and BIOS area reserved (the ACPI
    /// and MP tables live there), RAM from 1 MiB, and RAM above 4 GiB if any.
    /// </summary>
    public IReadOnlyList<E820Entry> E820Map()
    {
        var map = new List<E820Entry>
        {
            new(0, EbdaStart, E820Type.Ram),
            new(EbdaStart, LowMemoryEnd - EbdaStart, E820Type.Reserved),
            new(BiosAreaStart, BiosAreaEnd - BiosAreaStart, E820Type.Reserved),
            new(HighMemoryStart, LowRamEnd - HighMemoryStart, E820Type.Ram),
        };
        if (RamRegions.Count > 1)
            map.Add(new E820Entry(RamRegions[1].Address, RamRegions[1].Size, E820Type.Ram));
        return map;
    }
}
