namespace KvmSharp.Soft.Platform;

// Register writes, IPIs and EOI. Anything that reaches another chip or the vCPU
// is collected under the lock and done after it, so that two APICs sending to
// each other, or an EOI reaching the IOAPIC that delivers to this APIC, cannot
// deadlock.
public sealed partial class LocalApic
{
    // False when the write is refused, which in x2APIC mode is a #GP.
    private bool WriteLocked(int offset, uint value, ref AfterLock after)
    {
        bool x2Apic = X2ApicMode;
        switch (offset)
        {
            case ApicRegisters.Id when !x2Apic:
                Set(ApicRegisters.Id, value & 0xFF00_0000);
                break;
            case ApicRegisters.TaskPriority:
                Set(ApicRegisters.TaskPriority, value & 0xFF);
                UpdatePpr();
                after.CheckPending = true;
                break;
            case ApicRegisters.Eoi:
                EndOfInterrupt(ref after);
                break;
            case ApicRegisters.LogicalDestination when !x2Apic:
                Set(ApicRegisters.LogicalDestination, value & 0xFF00_0000);
                break;
            case ApicRegisters.DestinationFormat when !x2Apic:
                Set(ApicRegisters.DestinationFormat, value | 0x0FFF_FFFF);
                break;
            case ApicRegisters.SpuriousVector:
                Set(ApicRegisters.SpuriousVector, value & 0x3FF);
                if ((value & SpivEnabled) == 0)
                {
                    // Software disable masks every LVT entry.
                    foreach (var (register, _) in s_lvts)
                        Set(register, Get(register) | LvtMasked);
                }
                after.CheckPending = true;
                break;
            case ApicRegisters.InterruptCommandLow:
                value &= ~LvtSendPending;
                Set(ApicRegisters.InterruptCommandLow, value);
                after.Ipi = DecodeIcr(value, Get(ApicRegisters.InterruptCommandHigh));
                break;
            case ApicRegisters.InterruptCommandHigh when !x2Apic:
                Set(ApicRegisters.InterruptCommandHigh, value & 0xFF00_0000);
                break;
            case ApicRegisters.LvtTimer:
                WriteLvtTimer(value);
                after.DeadlineChanged = true;
                break;
            case ApicRegisters.LvtThermal or ApicRegisters.LvtPerformance or ApicRegisters.LvtLint0
                or ApicRegisters.LvtLint1 or ApicRegisters.LvtError:
                if ((Get(ApicRegisters.SpuriousVector) & SpivEnabled) == 0)
                    value |= LvtMasked;
                Set(offset, value & LvtWriteMask(offset));
                // Unmasking LINT0 may expose a waiting PIC interrupt.
                after.CheckPending = true;
                break;
            case ApicRegisters.TimerInitialCount:
                if (TscDeadlineMode)
                    break;
                Set(ApicRegisters.TimerInitialCount, value);
                StartTimer();
                after.DeadlineChanged = true;
                break;
            case ApicRegisters.TimerDivide:
                WriteDivide(value);
                after.DeadlineChanged = true;
                break;
            case ApicRegisters.ErrorStatus:
                return !x2Apic || value == 0;
            case ApicRegisters.SelfIpi when x2Apic:
                after.Ipi = new ApicInterrupt((byte)value, ApicDeliveryMode.Fixed, 0, Shorthand: ApicShorthand.Self);
                break;
            default:
                return false;
        }
        return true;
    }

    private ApicInterrupt DecodeIcr(uint low, uint high) => new(
        Vector: (byte)low,
        DeliveryMode: (ApicDeliveryMode)((low >> 8) & 7),
        Destination: X2ApicMode ? high : high >> 24,
        LogicalDestination: (low & (1 << 11)) != 0,
        Shorthand: (ApicShorthand)((low >> 18) & 3),
        LevelTriggered: (low & (1 << 15)) != 0,
        Assert: (low & (1 << 14)) != 0);

    private void EndOfInterrupt(ref AfterLock after)
    {
        int vector = HighestVector(ApicRegisters.Isr);
        if (vector < 0)
            return;
        SetBit(ApicRegisters.Isr, vector, false);
        UpdatePpr();
        after.EoiVector = vector;
        after.EoiLevel = GetBit(ApicRegisters.Tmr, vector);
        after.CheckPending = true;
    }

    private void Finish(in AfterLock after)
    {
        if (after.EoiVector >= 0)
            EoiListener?.OnEoi(this, (byte)after.EoiVector, after.EoiLevel);
        if (after.Ipi is { } ipi)
        {
            if (_bus is not null)
                _bus.Deliver(ipi, this);
            else if (MatchesDestination(ipi, this))
                Accept(ipi);
        }
        if (after.DeadlineChanged)
            DeadlineChanged?.Invoke();
        if (after.CheckPending && HasInterrupt)
            _sink.SignalInterrupt();
    }

    private struct AfterLock
    {
        public AfterLock()
        {
        }

        public int EoiVector = -1;
        public bool EoiLevel;
        public ApicInterrupt? Ipi;
        public bool CheckPending;
        public bool DeadlineChanged;
    }
}
