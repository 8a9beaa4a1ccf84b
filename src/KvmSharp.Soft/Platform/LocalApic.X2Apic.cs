namespace KvmSharp.Soft.Platform;

// x2APIC mode: the same registers as MSRs 0x800-0x8FF, a 32-bit ID, an LDR
// derived from it, a 64-bit ICR, and #GP for what xAPIC would silently ignore.
// The CPU decides whether x2APIC is advertised; these methods only say when an
// access faults.
public sealed partial class LocalApic
{
    public const uint X2ApicMsrBase = 0x800;
    public const uint X2ApicMsrLast = 0x8FF;
    public const uint BaseMsrIndex = 0x1B;
    private const uint X2ApicBroadcast = 0xFFFF_FFFF;
    private const ulong BaseMsrReserved = 0x2FF | 0xFFF0_0000_0000_0000;

    public bool X2ApicMode => (_baseMsr & (BaseMsrEnable | BaseMsrX2Apic)) == (BaseMsrEnable | BaseMsrX2Apic);

    private uint X2ApicId => Get(ApicRegisters.Id);

    private static uint X2ApicLogicalId(uint id) => ((id >> 4) << 16) | (1u << (int)(id & 0xF));

    /// <summary>
    /// A guest WRMSR to IA32_APIC_BASE. False means #GP: reserved bits, x2APIC
    /// without enable, x2APIC where the CPU does not offer it, or a mode change
    /// the SDM forbids (x2APIC straight back to xAPIC, disabled straight to x2APIC).
    /// </summary>
    public bool TryWriteBaseMsr(ulong value, bool x2ApicSupported)
    {
        lock (_lock)
        {
            ulong reserved = BaseMsrReserved | (x2ApicSupported ? 0 : BaseMsrX2Apic);
            bool enable = (value & BaseMsrEnable) != 0;
            bool x2Apic = (value & BaseMsrX2Apic) != 0;
            if ((value & reserved) != 0 || (x2Apic && !enable))
                return false;
            bool wasEnabled = (_baseMsr & BaseMsrEnable) != 0;
            if (enable && !x2Apic && X2ApicMode)
                return false;
            if (x2Apic && !wasEnabled)
                return false;
            ApplyBaseMsr(value);
            return true;
        }
    }

    /// <summary>RDMSR of 0x800-0x8FF. False means #GP (not in x2APIC mode, or no readable register there).</summary>
    public bool TryReadMsr(uint msr, out ulong value)
    {
        value = 0;
        int offset = (int)((msr - X2ApicMsrBase) << 4);
        lock (_lock)
        {
            if (!X2ApicMode || msr is < X2ApicMsrBase or > X2ApicMsrLast)
                return false;
            switch (offset)
            {
                case ApicRegisters.InterruptCommandLow:
                    value = Get(ApicRegisters.InterruptCommandLow) | ((ulong)Get(ApicRegisters.InterruptCommandHigh) << 32);
                    return true;
                case ApicRegisters.TimerCurrentCount:
                    value = CurrentCount(_clock.Nanoseconds);
                    return true;
                case ApicRegisters.DestinationFormat or ApicRegisters.InterruptCommandHigh or ApicRegisters.ArbitrationPriority:
                    return false;
                case var _ when IsReadable(offset):
                    value = Get(offset);
                    return true;
                default:
                    return false;
            }
        }
    }

    /// <summary>WRMSR of 0x800-0x8FF. False means #GP (not in x2APIC mode, a read-only register, or reserved bits set).</summary>
    public bool TryWriteMsr(uint msr, ulong value)
    {
        var after = new AfterLock();
        bool accepted;
        lock (_lock)
        {
            if (!X2ApicMode || msr is < X2ApicMsrBase or > X2ApicMsrLast)
                return false;
            int offset = (int)((msr - X2ApicMsrBase) << 4);
            if (offset == ApicRegisters.InterruptCommandLow)
            {
                Set(ApicRegisters.InterruptCommandHigh, (uint)(value >> 32));
                accepted = WriteLocked(offset, (uint)value, ref after);
            }
            else
            {
                accepted = value >> 32 == 0 && WriteLocked(offset, (uint)value, ref after);
            }
        }
        Finish(after);
        return accepted;
    }

    // Entering x2APIC mode rewrites ID and LDR from the vCPU id; (re-)enabling
    // in xAPIC mode restores the xAPIC ID, as KVM does.
    private void ApplyBaseMsr(ulong value)
    {
        ulong old = _baseMsr;
        _baseMsr = value;
        bool enabledNow = (value & BaseMsrEnable) != 0;
        if (((old ^ value) & BaseMsrEnable) != 0 && enabledNow)
            Set(ApicRegisters.Id, VcpuId << 24);
        if (((old ^ value) & BaseMsrX2Apic) != 0)
        {
            if ((value & BaseMsrX2Apic) != 0)
            {
                Set(ApicRegisters.Id, VcpuId);
                Set(ApicRegisters.LogicalDestination, X2ApicLogicalId(VcpuId));
            }
            else if (enabledNow)
            {
                Set(ApicRegisters.Id, VcpuId << 24);
            }
        }
    }
}
