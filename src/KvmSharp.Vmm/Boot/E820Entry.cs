namespace KvmSharp.Vmm.Boot;

/// <summary>Memory types of the BIOS e820 map (and of PVH's memmap, which reuses them).</summary>
public enum E820Type : uint
{
    Ram = 1,
    Reserved = 2,
    Acpi = 3,
    Nvs = 4,
    Unusable = 5,
}

/// <summary>One range of the guest-physical memory map the kernel is given.</summary>
public readonly record struct E820Entry(ulong Address, ulong Size, E820Type Type)
{
    /// <summary>Bytes of one entry in boot_params.e820_table (packed: addr, size, type).</summary>
    public const int BootParamsSize = 20;

    public ulong End => Address + Size;

    public override string ToString() => $"[0x{Address:x}-0x{End - 1:x}] {Type}";
}
