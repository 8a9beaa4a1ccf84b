namespace KvmSharp.Vmm.Acpi;

/// <summary>
/// A virtio-mmio device to declare in the DSDT (ACPI id LNRO0005, which Linux's
/// virtio_mmio driver matches): its register window and its interrupt (a GSI,
/// edge-triggered, active high). Distribution kernels such as Debian's are built
/// without CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES, so ACPI is how they find these.
/// </summary>
public sealed record AcpiMmioDevice(ulong Base, ulong Size, uint Gsi)
{
    public const string VirtioMmioHardwareId = "LNRO0005";
}
