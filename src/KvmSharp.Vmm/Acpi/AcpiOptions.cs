namespace KvmSharp.Vmm.Acpi;

/// <summary>The platform the ACPI tables describe.</summary>
public sealed record AcpiOptions
{
    /// <summary>vCPUs: one enabled local APIC each, with APIC ids 0..Cpus-1.</summary>
    public int Cpus { get; init; } = 1;

    public uint LocalApicAddress { get; init; } = 0xFEE0_0000;

    public uint IoApicAddress { get; init; } = 0xFEC0_0000;

    /// <summary>QEMU, Firecracker and Cloud Hypervisor all give the IOAPIC id 0; xAPIC ids of IOAPICs and CPUs are separate spaces.</summary>
    public byte IoApicId { get; init; }

    /// <summary>
    /// The 8-bit I/O port of the hardware-reduced sleep control register: "poweroff"
    /// writes SLP_TYP 5 (from \_S5) and SLP_EN there, which
    /// <see cref="AcpiTables.IsPowerOff"/> recognizes. Null leaves ACPI power-off out.
    /// </summary>
    public ushort? SleepControlPort { get; init; } = 0x3C0;

    /// <summary>The reset register (an I/O port) and value; by default the i8042's pulse-reset command.</summary>
    public ushort ResetPort { get; init; } = 0x64;

    public byte ResetValue { get; init; } = 0xFE;

    /// <summary>Describe COM1 (0x3F8, IRQ 4) in the DSDT so the kernel enumerates it through ACPI too.</summary>
    public bool Com1 { get; init; } = true;

    /// <summary>
    /// Describe the CMOS RTC (0x70, IRQ 8). With a hardware-reduced FADT Linux has
    /// no legacy PIC and maps no ISA IRQ by itself: rtc_cmos gets its interrupt
    /// only from this device (otherwise its probe fails with EINVAL).
    /// </summary>
    public bool Rtc { get; init; } = true;

    /// <summary>Describe the i8042 keyboard controller (0x60/0x64, IRQ 1), for the same reason as <see cref="Rtc"/>.</summary>
    public bool Keyboard { get; init; } = true;

    /// <summary>virtio-mmio devices, declared as \_SB.VRnn; at most 256.</summary>
    public IReadOnlyList<AcpiMmioDevice> VirtioMmio { get; init; } = [];
}
