namespace KvmSharp.Soft.Platform;

/// <summary>APIC delivery modes (ICR, redirection entries, MSI data bits 8-10).</summary>
public enum ApicDeliveryMode : byte
{
    Fixed = 0,
    LowestPriority = 1,
    Smi = 2,
    RemoteRead = 3,
    Nmi = 4,
    Init = 5,
    Startup = 6,
    ExtInt = 7,
}

/// <summary>ICR destination shorthands (bits 18-19).</summary>
public enum ApicShorthand : byte
{
    None = 0,
    Self = 1,
    AllIncludingSelf = 2,
    AllExcludingSelf = 3,
}

/// <summary>
/// One interrupt message on the APIC bus, whatever sent it: an IPI from an ICR,
/// an IOAPIC redirection entry, or an MSI.
/// </summary>
public readonly record struct ApicInterrupt(
    byte Vector,
    ApicDeliveryMode DeliveryMode,
    uint Destination,
    bool LogicalDestination = false,
    ApicShorthand Shorthand = ApicShorthand.None,
    bool LevelTriggered = false,
    bool Assert = true,
    bool RedirectionHint = false)
{
    /// <summary>
    /// Decodes an MSI as KVM does: destination ID from address bits 12-19,
    /// logical mode from bit 2, redirection hint from bit 3; vector, delivery
    /// mode and trigger from the data word. Always asserted.
    /// </summary>
    public static ApicInterrupt FromMsi(ulong address, uint data) => new(
        Vector: (byte)data,
        DeliveryMode: (ApicDeliveryMode)((data >> 8) & 7),
        Destination: (uint)((address >> 12) & 0xFF),
        LogicalDestination: (address & (1 << 2)) != 0,
        LevelTriggered: (data & (1 << 15)) != 0,
        RedirectionHint: (address & (1 << 3)) != 0);
}
