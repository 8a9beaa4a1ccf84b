namespace KvmSharp.Vmm.Boot;

/// <summary>
/// Tables a BIOS would leave in memory (ACPI, MP) for the kernel to find: their
/// bytes, and the RSDP's address when there are ACPI tables, which boot_params
/// and hvm_start_info pass on so that the kernel need not scan for it.
/// </summary>
public sealed record FirmwareTables(IReadOnlyList<BootWrite> Writes, ulong RsdpAddress)
{
    public static FirmwareTables None { get; } = new([], 0);

    /// <summary>Both sets of writes; the RSDP of whichever has one.</summary>
    public FirmwareTables Combine(FirmwareTables other) =>
        new([.. Writes, .. other.Writes], RsdpAddress != 0 ? RsdpAddress : other.RsdpAddress);
}
