namespace KvmSharp.Soft.Platform;

/// <summary>Offsets of the xAPIC registers in the 4 KiB page (and in KVM_GET/SET_LAPIC's 1 KiB state).</summary>
public static class ApicRegisters
{
    public const int Id = 0x20;
    public const int Version = 0x30;
    public const int TaskPriority = 0x80;
    public const int ArbitrationPriority = 0x90;
    public const int ProcessorPriority = 0xA0;
    public const int Eoi = 0xB0;
    public const int RemoteRead = 0xC0;
    public const int LogicalDestination = 0xD0;
    public const int DestinationFormat = 0xE0;
    public const int SpuriousVector = 0xF0;
    /// <summary>In-service bits: eight 32-bit words, 16 bytes apart.</summary>
    public const int Isr = 0x100;
    public const int Tmr = 0x180;
    public const int Irr = 0x200;
    public const int ErrorStatus = 0x280;
    public const int LvtCmci = 0x2F0;
    public const int InterruptCommandLow = 0x300;
    public const int InterruptCommandHigh = 0x310;
    public const int LvtTimer = 0x320;
    public const int LvtThermal = 0x330;
    public const int LvtPerformance = 0x340;
    public const int LvtLint0 = 0x350;
    public const int LvtLint1 = 0x360;
    public const int LvtError = 0x370;
    public const int TimerInitialCount = 0x380;
    public const int TimerCurrentCount = 0x390;
    public const int TimerDivide = 0x3E0;
    public const int SelfIpi = 0x3F0;
}
