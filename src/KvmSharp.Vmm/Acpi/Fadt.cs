using System.Buffers.Binary;

namespace KvmSharp.Vmm.Acpi;

/// <summary>
/// A hardware-reduced FADT (revision 6): no PM1 blocks, PM timer, GPEs or SCI,
/// so the VMM needs no ACPI power-management device; power-off goes through
/// the sleep control register, reboot through the reset register.
/// </summary>
/// <remarks>
/// Firecracker and Cloud Hypervisor boot distribution kernels with such a
/// FADT. The cost is the ACPI PM timer as a clock source: the TSC must be
/// calibrated another way (CPUID 0x15/0x16, kvmclock or tsc_early_khz=).
/// </remarks>
public static class Fadt
{
    public const byte Revision = 6;
    public const byte MinorRevision = 5;
    public const int Size = 276;

    public const uint FlagResetRegSupported = 1 << 10;
    public const uint FlagHardwareReduced = 1 << 20;

    public const ushort BootArchLegacyDevices = 1 << 0;
    public const ushort BootArch8042 = 1 << 1;
    public const ushort BootArchVgaNotPresent = 1 << 2;
    public const ushort BootArchMsiNotSupported = 1 << 3;

    public static byte[] Build(AcpiOptions options, ulong dsdtAddress)
    {
        var body = new byte[Size - AcpiTable.HeaderSize];
        Span<byte> at(int tableOffset) => body.AsSpan(tableOffset - AcpiTable.HeaderSize);

        BinaryPrimitives.WriteUInt32LittleEndian(at(40), (uint)dsdtAddress);
        // The platform has an i8042 (for reset) and legacy ISA devices, but no VGA and no PCI to do MSI.
        BinaryPrimitives.WriteUInt16LittleEndian(at(109), BootArchLegacyDevices | BootArch8042 | BootArchVgaNotPresent | BootArchMsiNotSupported);
        BinaryPrimitives.WriteUInt32LittleEndian(at(112), FlagHardwareReduced | FlagResetRegSupported);
        GenericAddress.IoPort8(options.ResetPort).WriteTo(at(116));
        at(128)[0] = options.ResetValue;
        at(131)[0] = MinorRevision;
        BinaryPrimitives.WriteUInt64LittleEndian(at(140), dsdtAddress);
        if (options.SleepControlPort is ushort port)
        {
            GenericAddress.IoPort8(port).WriteTo(at(244)); // SLEEP_CONTROL_REG
            GenericAddress.IoPort8(port).WriteTo(at(256)); // SLEEP_STATUS_REG
        }
        BinaryPrimitives.WriteUInt64LittleEndian(at(268), HypervisorVendorId);
        return AcpiTable.Build("FACP", Revision, body);
    }

    /// <summary>"KvmSharp" as the Hypervisor Vendor Identity.</summary>
    private static ulong HypervisorVendorId => BinaryPrimitives.ReadUInt64LittleEndian("KvmSharp"u8);
}
