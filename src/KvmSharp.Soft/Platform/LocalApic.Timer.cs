namespace KvmSharp.Soft.Platform;

// The APIC timer. KVM counts at a 1 GHz bus clock divided by TDCR, clamps
// periodic timers to 200 us, and in TSC-deadline mode fires once the guest TSC
// reaches IA32_TSC_DEADLINE.
public sealed partial class LocalApic
{
    public const uint TscDeadlineMsr = 0x6E0;

    /// <summary>IA32_TSC_DEADLINE: reads 0 outside TSC-deadline mode; writing 0 disarms.</summary>
    public ulong TscDeadline
    {
        get
        {
            lock (_lock)
                return TscDeadlineMode ? _tscDeadline : 0;
        }
        set
        {
            lock (_lock)
            {
                if (!TscDeadlineMode || (_baseMsr & BaseMsrEnable) == 0)
                    return;
                _tscDeadline = value;
                _targetExpiration = value == 0 ? long.MaxValue : DeadlineToNanoseconds(value);
            }
            DeadlineChanged?.Invoke();
        }
    }

    public long NextDeadline
    {
        get { lock (_lock) return _targetExpiration; }
    }

    public void PollTimers()
    {
        bool fired = false;
        lock (_lock)
        {
            long now = _clock.Nanoseconds;
            if (now < _targetExpiration)
                return;
            if (TscDeadlineMode)
            {
                // The TSC, not the estimate, decides: a late estimate re-arms.
                if (Tsc is { } tsc && tsc.TscAt(now) < _tscDeadline)
                {
                    _targetExpiration = DeadlineToNanoseconds(_tscDeadline);
                    return;
                }
                _tscDeadline = 0;
                _targetExpiration = long.MaxValue;
            }
            else if (PeriodicMode && _period > 0)
            {
                _targetExpiration += _period;
                // A host that fell far behind resumes ticking instead of bursting.
                if (_targetExpiration <= now)
                    _targetExpiration = now + _period;
            }
            else
            {
                // One-shot: the count stays at 0 until TMICT is written again.
                _targetExpiration = long.MaxValue;
            }
            fired = true;
        }
        if (fired)
            DeliverLocal(ApicRegisters.LvtTimer);
    }

    /// <summary>Raises the interrupt an LVT entry describes, unless masked (KVM's kvm_apic_local_deliver).</summary>
    public bool DeliverLocal(int lvtRegister)
    {
        uint lvt;
        lock (_lock)
        {
            if ((_baseMsr & BaseMsrEnable) == 0)
                return false;
            lvt = Get(lvtRegister);
        }
        if ((lvt & LvtMasked) != 0)
            return false;
        return Accept(new ApicInterrupt(
            Vector: (byte)lvt,
            DeliveryMode: (ApicDeliveryMode)((lvt >> 8) & 7),
            Destination: 0,
            LevelTriggered: (lvt & LvtLevelTriggered) != 0));
    }

    private static int DivideCount(uint tdcr)
    {
        uint bits = ((tdcr & 3) | ((tdcr & 8) >> 1)) + 1;
        return 1 << (int)(bits & 7);
    }

    private void WriteLvtTimer(uint value)
    {
        bool wasDeadline = TscDeadlineMode;
        if ((Get(ApicRegisters.SpuriousVector) & SpivEnabled) == 0)
            value |= LvtMasked;
        value &= LvtMask | TimerModeMask;
        Set(ApicRegisters.LvtTimer, value);
        if (wasDeadline != TscDeadlineMode)
        {
            // Crossing into or out of TSC-deadline mode disarms the timer.
            Set(ApicRegisters.TimerInitialCount, 0);
            StopTimer();
        }
        else if (PeriodicMode && _period is > 0 and < MinimumPeriodNanoseconds)
        {
            _period = MinimumPeriodNanoseconds;
        }
    }

    private void WriteDivide(uint value)
    {
        int oldDivide = _divideCount;
        Set(ApicRegisters.TimerDivide, value & 0xB);
        _divideCount = DivideCount(value);
        if (_divideCount == oldDivide || _period == 0 || TscDeadlineMode)
            return;
        // The remaining time scales with the new divider.
        long now = _clock.Nanoseconds;
        long remaining = Math.Max(_targetExpiration - now, 0);
        _period = _period / oldDivide * _divideCount;
        if (PeriodicMode)
            _period = Math.Max(_period, MinimumPeriodNanoseconds);
        _targetExpiration = now + remaining / oldDivide * _divideCount;
    }

    // Starts one-shot or periodic counting: a full period after a TMICT write,
    // or what a saved TMCCT says is left after KVM_SET_LAPIC (an expired
    // one-shot stays expired).
    private void StartTimer(uint? remainingCount = null)
    {
        _tscDeadline = 0;
        _period = (long)Get(ApicRegisters.TimerInitialCount) * _divideCount;
        if (_period == 0)
        {
            _targetExpiration = long.MaxValue;
            return;
        }
        if (PeriodicMode)
            _period = Math.Max(_period, MinimumPeriodNanoseconds);
        long first = _period;
        if (remainingCount is uint count)
        {
            first = (long)count * _divideCount;
            if (first <= 0 && !PeriodicMode)
            {
                _targetExpiration = long.MaxValue;
                return;
            }
            if (first <= 0 || first > _period)
                first = _period;
        }
        _targetExpiration = _clock.Nanoseconds + first;
    }

    private void StopTimer()
    {
        _period = 0;
        _tscDeadline = 0;
        _targetExpiration = long.MaxValue;
    }

    private uint CurrentCount(long now)
    {
        if (TscDeadlineMode || Get(ApicRegisters.TimerInitialCount) == 0 || _period == 0 || _targetExpiration == long.MaxValue)
            return 0;
        long remaining = Math.Max(_targetExpiration - now, 0);
        if (remaining != _period)
            remaining %= _period;
        return (uint)(remaining / _divideCount);
    }

    private long DeadlineToNanoseconds(ulong deadline)
    {
        if (Tsc is not { } tsc || tsc.TscKhz == 0)
            return long.MaxValue;
        long now = _clock.Nanoseconds;
        ulong current = tsc.TscAt(now);
        if (deadline <= current)
            return now;
        var delta = (UInt128)(deadline - current) * 1_000_000 / tsc.TscKhz;
        return delta >= (UInt128)(long.MaxValue - now) ? long.MaxValue : now + (long)delta;
    }
}
