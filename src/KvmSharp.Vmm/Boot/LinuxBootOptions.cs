namespace KvmSharp.Vmm.Boot;

/// <summary>What the loaders need besides the kernel image.</summary>
public sealed record LinuxBootOptions
{
    /// <summary>Guest RAM in bytes, a multiple of 4 KiB.</summary>
    public required ulong MemorySize { get; init; }

    public string CommandLine { get; init; } = "";

    /// <summary>The initial RAM disk (cpio archive, possibly compressed); empty for none.</summary>
    public ReadOnlyMemory<byte> Initrd { get; init; }

    /// <summary>ACPI and MP tables for the BIOS area; see KvmSharp.Vmm.Acpi.AcpiTables.</summary>
    public FirmwareTables Firmware { get; init; } = FirmwareTables.None;

    /// <summary>For an ELF kernel with a PVH note: enter it through PVH rather than the 64-bit boot protocol.</summary>
    public bool PreferPvh { get; init; } = true;
}
