using KvmSharp.Abi;

namespace KvmSharp.Soft.Platform;

/// <summary>
/// The 8254 programmable interval timer (ports 0x40-0x43, channel 2's gate and
/// output on port 0x61), counting at 1.193182 MHz in real time from an
/// <see cref="IPlatformClock"/>, with Linux KVM's state: each channel is its
/// programmed count and the time it was loaded, from which the current count
/// and output are computed. Channel 0 drives IRQ 0 through
/// <see cref="TimerInterrupt"/>. State converts to and from
/// <see cref="KvmPitState2"/> (KVM_GET/SET_PIT2).
/// </summary>
/// <remarks>
/// As in KVM: the gate only restarts modes 1, 2, 3 and 5 on a rising edge;
/// periodic channel-0 timers are held to at least 200 us; in HPET legacy mode
/// channel 0 raises nothing; with <see cref="Reinject"/> (KVM's default) every
/// expiry is owed to the guest and the next IRQ 0 waits for the previous one's
/// acknowledgement (<see cref="AcknowledgeIrq"/>), so ticks are late rather than
/// lost. Unlike KVM, a BCD count counts in decimal (KVM stores the BCD flag but
/// counts in binary).
/// </remarks>
public sealed class I8254Pit : ITimedDevice
{
    public const ushort Channel0Port = 0x40;
    public const ushort Channel1Port = 0x41;
    public const ushort Channel2Port = 0x42;
    public const ushort ControlPort = 0x43;
    public const ushort SpeakerPort = 0x61;
    public const long Frequency = 1_193_182;

    private const long MinimumPeriodNanoseconds = 200_000;
    private const byte ReadWriteLsb = 1;
    private const byte ReadWriteMsb = 2;
    private const byte ReadWriteWord0 = 3;
    private const byte ReadWriteWord1 = 4;

    private readonly object _lock = new();
    private readonly IPlatformClock _clock;
    private readonly KvmPitChannelState[] _channels = new KvmPitChannelState[3];
    private uint _flags;
    private long _timerPeriod;
    private long _timerDeadline = long.MaxValue;
    private bool _reinject = true;
    private int _pendingTicks;
    private bool _irqAcknowledged = true;

    public I8254Pit(IPlatformClock clock)
    {
        _clock = clock;
        Reset();
    }

    /// <summary>Raised, outside the lock, once per channel-0 expiry: pulse GSI 0 (KVM raises and lowers it).</summary>
    public event Action? TimerInterrupt;

    public event Action? DeadlineChanged;

    public long NextDeadline
    {
        get { lock (_lock) return _timerDeadline; }
    }

    /// <summary>KVM_REINJECT_CONTROL: whether expiries the guest has not yet acknowledged are kept and delivered later.</summary>
    public bool Reinject
    {
        get { lock (_lock) return _reinject; }
        set
        {
            lock (_lock)
            {
                _reinject = value;
                _pendingTicks = 0;
                _irqAcknowledged = true;
            }
        }
    }

    /// <summary>Ticks owed to the guest in reinject mode, the one in flight included.</summary>
    public int PendingTicks
    {
        get { lock (_lock) return _pendingTicks; }
    }

    /// <summary>
    /// The guest acknowledged IRQ 0 (an EOI at the PIC or IOAPIC reached GSI 0's
    /// ack notifier): in reinject mode the next owed tick goes out.
    /// </summary>
    public void AcknowledgeIrq()
    {
        bool fire = false;
        lock (_lock)
        {
            if (!_reinject)
                return;
            _irqAcknowledged = true;
            if (_pendingTicks > 0 && --_pendingTicks > 0)
            {
                _irqAcknowledged = false;
                fire = true;
            }
        }
        if (fire)
            TimerInterrupt?.Invoke();
    }

    /// <summary>KVM's reset: modes unprogrammed (0xFF), counts 0x10000, gates high except channel 2's.</summary>
    public void Reset()
    {
        lock (_lock)
        {
            _flags = 0;
            for (int i = 0; i < 3; i++)
            {
                _channels[i] = new KvmPitChannelState { Mode = 0xFF, Gate = (byte)(i != 2 ? 1 : 0) };
                LoadCount(i, 0);
            }
        }
        DeadlineChanged?.Invoke();
    }

    public byte ReadPort(ushort port)
    {
        lock (_lock)
        {
            if (port == SpeakerPort)
            {
                long now = _clock.Nanoseconds;
                int refresh = (int)((now >> 14) & 1);
                return (byte)(((_flags & KvmConstants.KVM_PIT_FLAGS_SPEAKER_DATA_ON) != 0 ? 2 : 0)
                    | _channels[2].Gate | (Output(2, now) ? 0x20 : 0) | (refresh << 4));
            }
            int channel = port - Channel0Port;
            if (channel is < 0 or > 2)
                return 0xFF;
            return ReadCounter(channel);
        }
    }

    public void WritePort(ushort port, byte value)
    {
        lock (_lock)
        {
            switch (port)
            {
                case SpeakerPort:
                    _flags = (value & 2) != 0
                        ? _flags | KvmConstants.KVM_PIT_FLAGS_SPEAKER_DATA_ON
                        : _flags & ~(uint)KvmConstants.KVM_PIT_FLAGS_SPEAKER_DATA_ON;
                    SetGate(2, (value & 1) != 0);
                    break;
                case ControlPort:
                    WriteControl(value);
                    break;
                case Channel0Port or Channel1Port or Channel2Port:
                    WriteCounter(port - Channel0Port, value);
                    break;
            }
        }
        DeadlineChanged?.Invoke();
    }

    /// <summary>The gate input of <paramref name="channel"/> (channel 2's is also port 0x61 bit 0).</summary>
    public void SetGate(int channel, bool level)
    {
        lock (_lock)
        {
            ref var c = ref _channels[channel];
            // Modes 1, 2, 3 and 5 restart on a rising edge.
            if (c.Mode is 1 or 2 or 3 or 5 && c.Gate == 0 && level)
                c.CountLoadTime = _clock.Nanoseconds;
            c.Gate = (byte)(level ? 1 : 0);
        }
    }

    /// <summary>The OUT pin of <paramref name="channel"/> now.</summary>
    public bool GetOutput(int channel)
    {
        lock (_lock)
            return Output(channel, _clock.Nanoseconds);
    }

    /// <summary>KVM_GET_PIT2.</summary>
    public KvmPitState2 GetState()
    {
        lock (_lock)
        {
            var state = new KvmPitState2 { Flags = _flags };
            for (int i = 0; i < 3; i++)
                state.Channels[i] = _channels[i];
            return state;
        }
    }

    /// <summary>
    /// KVM_SET_PIT2: channels and flags are copied, then each count is reloaded
    /// as KVM does, which turns a count of 0 into 0x10000 and stamps
    /// count_load_time with the current time (channel 0's only when its timer
    /// starts: not while unprogrammed or in HPET legacy mode).
    /// </summary>
    public void SetState(in KvmPitState2 state)
    {
        lock (_lock)
        {
            _flags = state.Flags;
            for (int i = 0; i < 3; i++)
            {
                _channels[i] = state.Channels[i];
                ref var c = ref _channels[i];
                c.Count = c.Count == 0 ? 0x10000 : c.Count;
                LoadBinaryCount(i, c.Count);
            }
        }
        DeadlineChanged?.Invoke();
    }

    /// <summary>KVM_GET_PIT: the channels of <see cref="GetState"/> without the flags.</summary>
    public KvmPitState GetChannels()
    {
        var full = GetState();
        return new KvmPitState { Channels = full.Channels };
    }

    /// <summary>KVM_SET_PIT: like <see cref="SetState"/>, keeping the current flags.</summary>
    public void SetChannels(in KvmPitState state)
    {
        var full = new KvmPitState2 { Channels = state.Channels };
        lock (_lock)
            full.Flags = _flags;
        SetState(full);
    }

    public void PollTimers()
    {
        bool fire;
        lock (_lock)
        {
            long now = _clock.Nanoseconds;
            if (now < _timerDeadline)
                return;
            int expiries = 1;
            if (_timerPeriod > 0)
            {
                _timerDeadline += _timerPeriod;
                if (_timerDeadline <= now)
                {
                    // The host fell behind: count what was missed, bounded, and resume from now.
                    long missed = (now - _timerDeadline) / _timerPeriod + 1;
                    expiries += (int)Math.Min(missed, 1000);
                    _timerDeadline = now + _timerPeriod;
                }
            }
            else
            {
                _timerDeadline = long.MaxValue;
            }
            if (!_reinject)
            {
                fire = true;
            }
            else
            {
                _pendingTicks += expiries;
                fire = _irqAcknowledged;
                _irqAcknowledged = false;
            }
        }
        if (fire)
            TimerInterrupt?.Invoke();
    }

    private void WriteControl(byte value)
    {
        int channel = value >> 6;
        if (channel == 3)
        {
            // Read-back: bit 5 clear latches counts, bit 4 clear latches status.
            for (int i = 0; i < 3; i++)
            {
                if ((value & (2 << i)) == 0)
                    continue;
                if ((value & 0x20) == 0)
                    LatchCount(i);
                if ((value & 0x10) == 0)
                    LatchStatus(i);
            }
            return;
        }
        ref var c = ref _channels[channel];
        byte access = (byte)((value >> 4) & 3);
        if (access == 0)
        {
            LatchCount(channel);
            return;
        }
        c.RwMode = access;
        c.ReadState = access;
        c.WriteState = access;
        c.Mode = (byte)((value >> 1) & 7);
        // Modes 6 and 7 are aliases of 2 and 3.
        if (c.Mode > 5)
            c.Mode -= 4;
        c.Bcd = (byte)(value & 1);
    }

    private void WriteCounter(int channel, byte value)
    {
        ref var c = ref _channels[channel];
        switch (c.WriteState)
        {
            case ReadWriteMsb:
                LoadCount(channel, (uint)value << 8);
                break;
            case ReadWriteWord0:
                c.WriteLatch = value;
                c.WriteState = ReadWriteWord1;
                break;
            case ReadWriteWord1:
                LoadCount(channel, c.WriteLatch | ((uint)value << 8));
                c.WriteState = ReadWriteWord0;
                break;
            default:
                LoadCount(channel, value);
                break;
        }
    }

    private byte ReadCounter(int channel)
    {
        ref var c = ref _channels[channel];
        if (c.StatusLatched != 0)
        {
            c.StatusLatched = 0;
            return c.Status;
        }
        if (c.CountLatched != 0)
        {
            switch (c.CountLatched)
            {
                case ReadWriteMsb:
                    c.CountLatched = 0;
                    return (byte)(c.LatchedCount >> 8);
                case ReadWriteWord0:
                    c.CountLatched = ReadWriteMsb;
                    return (byte)c.LatchedCount;
                default:
                    c.CountLatched = 0;
                    return (byte)c.LatchedCount;
            }
        }
        uint count = CurrentCount(channel, _clock.Nanoseconds);
        switch (c.ReadState)
        {
            case ReadWriteMsb:
                return (byte)(count >> 8);
            case ReadWriteWord0:
                c.ReadState = ReadWriteWord1;
                return (byte)count;
            case ReadWriteWord1:
                c.ReadState = ReadWriteWord0;
                return (byte)(count >> 8);
            default:
                return (byte)count;
        }
    }

    private void LatchCount(int channel)
    {
        ref var c = ref _channels[channel];
        if (c.CountLatched != 0)
            return;
        c.LatchedCount = (ushort)CurrentCount(channel, _clock.Nanoseconds);
        c.CountLatched = c.RwMode;
    }

    private void LatchStatus(int channel)
    {
        ref var c = ref _channels[channel];
        if (c.StatusLatched != 0)
            return;
        c.Status = (byte)((Output(channel, _clock.Nanoseconds) ? 0x80 : 0) | (c.RwMode << 4) | (c.Mode << 1) | c.Bcd);
        c.StatusLatched = 1;
    }

    private void LoadCount(int channel, uint value)
    {
        ref var c = ref _channels[channel];
        uint count = c.Bcd != 0 ? FromBcd(value) : value;
        LoadBinaryCount(channel, count == 0 ? (c.Bcd != 0 ? 10000u : 0x10000u) : count);
    }

    private void LoadBinaryCount(int channel, uint count)
    {
        ref var c = ref _channels[channel];
        c.Count = count;
        long now = _clock.Nanoseconds;
        if (channel != 0)
        {
            c.CountLoadTime = now;
            return;
        }
        // Unprogrammed, or handed over to the HPET: no timer, and (as in KVM)
        // the load time is left as it was.
        if (c.Mode > 5 || (_flags & KvmConstants.KVM_PIT_FLAGS_HPET_LEGACY) != 0)
        {
            StopTimer();
            return;
        }
        c.CountLoadTime = now;
        long interval = (long)((Int128)count * 1_000_000_000 / Frequency);
        _timerPeriod = c.Mode is 2 or 3 ? Math.Max(interval, MinimumPeriodNanoseconds) : 0;
        _timerDeadline = now + (_timerPeriod > 0 ? _timerPeriod : interval);
    }

    private void StopTimer()
    {
        _timerPeriod = 0;
        _timerDeadline = long.MaxValue;
    }

    private long Ticks(int channel, long now)
    {
        long elapsed = Math.Max(now - _channels[channel].CountLoadTime, 0);
        return (long)((Int128)elapsed * Frequency / 1_000_000_000);
    }

    private uint CurrentCount(int channel, long now)
    {
        ref var c = ref _channels[channel];
        long d = Ticks(channel, now);
        long count = c.Count;
        long value = c.Mode switch
        {
            0 or 1 or 4 or 5 => c.Bcd != 0 ? count - d : (count - d) & 0xFFFF,
            // Mode 3 counts down by two each clock.
            3 => count - (2 * d % count),
            _ => count - d % count,
        };
        if (c.Bcd != 0)
            return ToBcd((uint)(((value % 10000) + 10000) % 10000));
        return (uint)value;
    }

    private bool Output(int channel, long now)
    {
        ref var c = ref _channels[channel];
        long d = Ticks(channel, now);
        long count = c.Count;
        return c.Mode switch
        {
            1 => d < count,
            2 => d % count == 0 && d != 0,
            3 => d % count < ((count + 1) >> 1),
            4 or 5 => d == count,
            _ => d >= count,
        };
    }

    private static uint FromBcd(uint value) =>
        (value & 0xF) + ((value >> 4) & 0xF) * 10 + ((value >> 8) & 0xF) * 100 + ((value >> 12) & 0xF) * 1000;

    private static uint ToBcd(uint value) =>
        (value % 10) | ((value / 10 % 10) << 4) | ((value / 100 % 10) << 8) | ((value / 1000 % 10) << 12);
}
