namespace KvmSharp.Vmm.Devices.Legacy;

/// <summary>
/// The PC's CMOS RAM and MC146818 real-time clock at ports 0x70 (index, with
/// the NMI mask in bit 7) and 0x71 (data). The clock is the host's (UTC, as
/// Linux expects) plus whatever offset the guest set; the time registers are
/// rendered in BCD or binary and 12- or 24-hour form per register B. UIP in
/// register A is high for the 244 µs before each second boundary, the window in
/// which the datasheet warns that the registers are about to change; the
/// registers themselves change atomically at the boundary. Register C's update,
/// alarm and periodic flags are brought up to date whenever C is read and, while
/// an interrupt is enabled in register B, by a timer on the clock; IRQF and the
/// interrupt line (IRQ 8) stay asserted until the guest reads C, as on the chip.
/// </summary>
public sealed class CmosRtc : IBusDevice, IDisposable
{
    public const ushort IndexPort = 0x70;
    public const int PortCount = 2;
    public const int Irq = 8;

    public const int Seconds = 0x00, SecondsAlarm = 0x01, Minutes = 0x02, MinutesAlarm = 0x03, Hours = 0x04, HoursAlarm = 0x05;
    public const int Weekday = 0x06, DayOfMonth = 0x07, Month = 0x08, Year = 0x09;
    public const int RegisterA = 0x0A, RegisterB = 0x0B, RegisterC = 0x0C, RegisterD = 0x0D, Century = 0x32;

    public const byte AUpdateInProgress = 0x80, ADividerMask = 0x70, ADividerNormal = 0x20, ARateMask = 0x0F;
    public const byte BSet = 0x80, BPeriodicInterrupt = 0x40, BAlarmInterrupt = 0x20, BUpdateInterrupt = 0x10, BBinary = 0x04, B24Hour = 0x02;
    public const byte CInterruptRequest = 0x80, CPeriodic = 0x40, CAlarm = 0x20, CUpdate = 0x10;
    public const byte DValidRamAndTime = 0x80;

    public static readonly TimeSpan UpdateInProgressWindow = TimeSpan.FromMicroseconds(244);

    private static readonly int[] TimeRegisters = [Seconds, Minutes, Hours, Weekday, DayOfMonth, Month, Year, Century];

    private readonly object _lock = new();
    private readonly TimeProvider _clock;
    private readonly IInterruptLine _interrupt;
    private readonly byte[] _cmos = new byte[128];
    private TimeSpan _guestOffset;
    private byte _index;
    private byte _flags;
    private DateTimeOffset _flagsUpdatedAt;
    private ITimer? _timer;
    private TimeSpan _timerPeriod;

    public CmosRtc(TimeProvider? clock = null, IInterruptLine? interrupt = null)
    {
        _clock = clock ?? TimeProvider.System;
        _interrupt = interrupt ?? UnconnectedInterruptLine.Instance;
        _cmos[RegisterA] = ADividerNormal | 0x06; // 32.768 kHz time base, 1024 Hz periodic rate: the BIOS default.
        _cmos[RegisterB] = B24Hour;
        _cmos[RegisterD] = DValidRamAndTime;
        _flagsUpdatedAt = Now();
    }

    /// <summary>Bit 7 of the last index write: the guest asked for NMIs to be masked.</summary>
    public bool NmiMasked { get; private set; }

    /// <summary>The clock as the guest sees it now.</summary>
    public DateTimeOffset GuestTime
    {
        get { lock (_lock) return Now(); }
    }

    /// <summary>Sets a byte of CMOS RAM (0x0e–0x7f), as firmware would before the guest starts.</summary>
    public void SetNvram(int index, byte value)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(index, RegisterD + 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(index, 127);
        lock (_lock)
            _cmos[index] = value;
    }

    public void Read(ulong offset, Span<byte> data)
    {
        lock (_lock)
        {
            for (int i = 0; i < data.Length; i++)
                // The index register is write-only on the PC.
                data[i] = offset + (ulong)i == 0 ? (byte)0xFF : ReadRegister(_index);
            UpdateInterrupt();
        }
    }

    public void Write(ulong offset, ReadOnlySpan<byte> data)
    {
        lock (_lock)
        {
            for (int i = 0; i < data.Length; i++)
            {
                if (offset + (ulong)i == 0)
                {
                    NmiMasked = (data[i] & 0x80) != 0;
                    _index = (byte)(data[i] & 0x7F);
                }
                else
                    WriteRegister(_index, data[i]);
            }
            UpdateInterrupt();
        }
    }

    public void Dispose()
    {
        lock (_lock)
        {
            _timer?.Dispose();
            _timer = null;
        }
    }

    private bool Setting => (_cmos[RegisterB] & BSet) != 0;

    private DateTimeOffset Now() => _clock.GetUtcNow() + _guestOffset;

    private byte ReadRegister(int register)
    {
        switch (register)
        {
            case RegisterA:
                return (byte)(_cmos[RegisterA] | (UpdateInProgress() ? AUpdateInProgress : 0));
            case RegisterC:
                return ReadAndClearFlags();
            case RegisterD:
                return DValidRamAndTime;
            default:
                // While SET is high the time registers hold what the guest wrote, frozen.
                if (IsTimeRegister(register) && !Setting)
                    return Encode(register, Now());
                return _cmos[register];
        }
    }

    private void WriteRegister(int register, byte value)
    {
        switch (register)
        {
            case RegisterA:
                UpdateFlags();
                _cmos[RegisterA] = (byte)(value & ~AUpdateInProgress);
                ArmTimer();
                break;
            case RegisterB:
                WriteRegisterB(value);
                break;
            case RegisterC:
            case RegisterD:
                break; // Read-only.
            default:
                if (IsTimeRegister(register))
                {
                    if (!Setting)
                        Freeze();
                    _cmos[register] = value;
                    if (!Setting)
                        Thaw();
                }
                else
                    _cmos[register] = value;
                break;
        }
    }

    private void WriteRegisterB(byte value)
    {
        UpdateFlags();
        bool wasSetting = Setting;
        if ((value & BSet) != 0)
        {
            if (!wasSetting)
                Freeze();
            value = (byte)(value & ~BUpdateInterrupt); // SET clears UIE (MC146818).
        }
        _cmos[RegisterB] = value;
        if (wasSetting && !Setting)
            Thaw();
        ArmTimer();
    }

    // Copies the running time into the registers, in the current format, to be edited.
    private void Freeze()
    {
        var now = Now();
        foreach (int register in TimeRegisters)
            _cmos[register] = Encode(register, now);
    }

    // Restarts the clock from the registers; a date the guest wrote that is no date leaves the clock as it was.
    private void Thaw()
    {
        var now = _clock.GetUtcNow();
        var written = DecodeRegisters();
        if (written is { } time)
            _guestOffset = time - now.AddTicks(-(now.Ticks % TimeSpan.TicksPerSecond));
    }

    private DateTimeOffset? DecodeRegisters()
    {
        int second = Decode(_cmos[Seconds]), minute = Decode(_cmos[Minutes]);
        int day = Decode(_cmos[DayOfMonth]), month = Decode(_cmos[Month]);
        int year = Decode(_cmos[Century]) * 100 + Decode(_cmos[Year]);
        byte hourRegister = _cmos[Hours];
        int hour;
        if ((_cmos[RegisterB] & B24Hour) != 0)
            hour = Decode(hourRegister);
        else
        {
            int twelve = Decode((byte)(hourRegister & 0x7F));
            hour = twelve % 12 + ((hourRegister & 0x80) != 0 ? 12 : 0);
        }
        if (year < 1 || month is < 1 or > 12 || day < 1 || day > DateTime.DaysInMonth(year, month) || hour > 23 || minute > 59 || second > 59)
            return null;
        return new DateTimeOffset(year, month, day, hour, minute, second, TimeSpan.Zero);
    }

    private bool Binary => (_cmos[RegisterB] & BBinary) != 0;

    private int Decode(byte value) => Binary ? value : (value >> 4) * 10 + (value & 0x0F);

    private byte EncodeNumber(int value) => Binary ? (byte)value : (byte)(((value / 10) << 4) | (value % 10));

    private byte Encode(int register, DateTimeOffset time) => register switch
    {
        Seconds => EncodeNumber(time.Second),
        Minutes => EncodeNumber(time.Minute),
        Hours => EncodeHour(time.Hour),
        Weekday => EncodeNumber((int)time.DayOfWeek + 1),
        DayOfMonth => EncodeNumber(time.Day),
        Month => EncodeNumber(time.Month),
        Year => EncodeNumber(time.Year % 100),
        Century => EncodeNumber(time.Year / 100),
        _ => _cmos[register],
    };

    private byte EncodeHour(int hour)
    {
        if ((_cmos[RegisterB] & B24Hour) != 0)
            return EncodeNumber(hour);
        int twelve = hour % 12 == 0 ? 12 : hour % 12;
        return (byte)(EncodeNumber(twelve) | (hour >= 12 ? 0x80 : 0));
    }

    private static bool IsTimeRegister(int register) => Array.IndexOf(TimeRegisters, register) >= 0;

    private bool UpdateInProgress()
    {
        if (Setting || (_cmos[RegisterA] & ADividerMask) != ADividerNormal)
            return false;
        long intoSecond = Now().Ticks % TimeSpan.TicksPerSecond;
        return intoSecond >= TimeSpan.TicksPerSecond - UpdateInProgressWindow.Ticks;
    }

    private byte ReadAndClearFlags()
    {
        UpdateFlags();
        byte flags = _flags;
        _flags = 0;
        return (byte)(flags | (InterruptRequested(flags) ? CInterruptRequest : 0));
    }

    private bool InterruptRequested(byte flags) =>
        (flags & _cmos[RegisterB] & (BPeriodicInterrupt | BAlarmInterrupt | BUpdateInterrupt)) != 0;

    private bool Running => !Setting && (_cmos[RegisterA] & ADividerMask) == ADividerNormal;

    // Rates 1 and 2 repeat 8 and 9 (datasheet table 3): 256 and 128 Hz.
    private TimeSpan? PeriodicInterval
    {
        get
        {
            int rate = _cmos[RegisterA] & ARateMask;
            if (rate == 0)
                return null;
            int shift = rate <= 2 ? rate + 7 : rate - 1;
            return TimeSpan.FromTicks(TimeSpan.TicksPerSecond * (1L << shift) / 32768);
        }
    }

    // Sets the flags for the events since the last update: the flag bits are set whether or not their interrupt is enabled.
    private void UpdateFlags()
    {
        var now = Now();
        var since = _flagsUpdatedAt;
        _flagsUpdatedAt = now;
        if (!Running)
            return;
        if (now.Ticks / TimeSpan.TicksPerSecond != since.Ticks / TimeSpan.TicksPerSecond)
        {
            _flags |= CUpdate;
            if (AlarmMatches(now))
                _flags |= CAlarm;
        }
        if (PeriodicInterval is { } period && now - since >= period)
            _flags |= CPeriodic;
    }

    private void UpdateInterrupt() => _interrupt.Set(InterruptRequested(_flags));

    // While an interrupt is enabled a timer brings the flags up to date: each periodic interval, or each second for update and alarm.
    private void ArmTimer()
    {
        byte enabled = (byte)(_cmos[RegisterB] & (BPeriodicInterrupt | BAlarmInterrupt | BUpdateInterrupt));
        TimeSpan? period = !Running || enabled == 0 ? null
            : (enabled & BPeriodicInterrupt) != 0 && PeriodicInterval is { } interval ? interval
            : (enabled & (BAlarmInterrupt | BUpdateInterrupt)) != 0 ? TimeSpan.FromSeconds(1)
            : null;
        if (period is null)
        {
            _timer?.Dispose();
            _timer = null;
            return;
        }
        if (_timer is not null && _timerPeriod == period)
            return;
        _timer?.Dispose();
        _timerPeriod = period.Value;
        long intoSecond = Now().Ticks % TimeSpan.TicksPerSecond;
        var due = period.Value == TimeSpan.FromSeconds(1) ? TimeSpan.FromTicks(TimeSpan.TicksPerSecond - intoSecond) : period.Value;
        _timer = _clock.CreateTimer(_ => Tick(), null, due, period.Value);
    }

    private void Tick()
    {
        lock (_lock)
        {
            UpdateFlags();
            UpdateInterrupt();
        }
    }

    // An alarm byte with its two top bits set matches any value ("don't care").
    private bool AlarmMatches(DateTimeOffset now) =>
        AlarmByteMatches(_cmos[SecondsAlarm], Encode(Seconds, now))
        && AlarmByteMatches(_cmos[MinutesAlarm], Encode(Minutes, now))
        && AlarmByteMatches(_cmos[HoursAlarm], Encode(Hours, now));

    private static bool AlarmByteMatches(byte alarm, byte current) => (alarm & 0xC0) == 0xC0 || alarm == current;
}
