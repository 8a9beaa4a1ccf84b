using KvmSharp.Vmm.Devices;
using KvmSharp.Vmm.Devices.Legacy;
using static KvmSharp.Vmm.Devices.Legacy.CmosRtc;

namespace KvmSharp.Vmm.Tests.Devices;

public class CmosRtcTests
{
    // A Wednesday.
    private static readonly DateTimeOffset Start = new(2026, 11, 25, 17, 5, 42, 500, TimeSpan.Zero);

    private readonly ManualClock _clock = new(Start);
    private readonly RecordingInterruptLine _irq = new();
    private readonly CmosRtc _rtc;
    private readonly PioBus _bus = new();

    public CmosRtcTests()
    {
        _rtc = new CmosRtc(_clock, _irq);
        _bus.Register(IndexPort, PortCount, _rtc, "rtc");
    }

    private byte ReadCmos(int register)
    {
        _bus.Write(IndexPort, [(byte)register]);
        var data = new byte[1];
        _bus.Read(IndexPort + 1, data);
        return data[0];
    }

    private void WriteCmos(int register, byte value)
    {
        _bus.Write(IndexPort, [(byte)register]);
        _bus.Write(IndexPort + 1, [value]);
    }

    private byte[] TimeRegisters() =>
        [ReadCmos(Seconds), ReadCmos(Minutes), ReadCmos(Hours), ReadCmos(Weekday), ReadCmos(DayOfMonth), ReadCmos(Month), ReadCmos(Year), ReadCmos(Century)];

    [Fact]
    public void TheBiosDefaultsAre24HourBcdWithValidTime()
    {
        Assert.Equal(B24Hour, ReadCmos(RegisterB));
        Assert.Equal(0x26, ReadCmos(RegisterA));
        Assert.Equal(DValidRamAndTime, ReadCmos(RegisterD));
    }

    [Fact]
    public void TimeReadsInBcdByDefault()
    {
        // Day of week counts from Sunday = 1.
        Assert.Equal([0x42, 0x05, 0x17, 0x04, 0x25, 0x11, 0x26, 0x20], TimeRegisters());
    }

    [Fact]
    public void TimeReadsInBinaryWhenRegisterBSaysSo()
    {
        WriteCmos(RegisterB, B24Hour | BBinary);

        Assert.Equal([42, 5, 17, 4, 25, 11, 26, 20], TimeRegisters());
    }

    [Theory]
    [InlineData(17, 0x85)]
    [InlineData(0, 0x12)]
    [InlineData(12, 0x92)]
    [InlineData(9, 0x09)]
    public void TwelveHourModeMarksPmInBitSeven(int hour, byte expected)
    {
        _clock.Now = new DateTimeOffset(2026, 11, 25, hour, 0, 0, TimeSpan.Zero);
        WriteCmos(RegisterB, 0);

        Assert.Equal(expected, ReadCmos(Hours));
    }

    [Fact]
    public void TheClockFollowsTheHost()
    {
        _clock.Now = Start.AddSeconds(20);

        Assert.Equal(0x02, ReadCmos(Seconds));
        Assert.Equal(0x06, ReadCmos(Minutes));
    }

    [Fact]
    public void UpdateInProgressIsHighOnlyJustBeforeASecondBoundary()
    {
        Assert.Equal(0, ReadCmos(RegisterA) & AUpdateInProgress);

        _clock.Now = new DateTimeOffset(2026, 11, 25, 17, 5, 42, TimeSpan.Zero).AddTicks(TimeSpan.TicksPerSecond - 1000);
        Assert.Equal(AUpdateInProgress, ReadCmos(RegisterA) & AUpdateInProgress);

        _clock.Now = new DateTimeOffset(2026, 11, 25, 17, 5, 43, TimeSpan.Zero);
        Assert.Equal(0, ReadCmos(RegisterA) & AUpdateInProgress);
    }

    [Fact]
    public void TheGuestSetsTheClockWithSetAndItRunsOnFromThere()
    {
        WriteCmos(RegisterB, BSet | B24Hour);
        WriteCmos(Year, 0x30);
        WriteCmos(Hours, 0x08);
        _clock.Now = Start.AddSeconds(5);
        // Frozen while SET is high.
        Assert.Equal(0x42, ReadCmos(Seconds));
        WriteCmos(RegisterB, B24Hour);

        Assert.Equal(0x30, ReadCmos(Year));
        Assert.Equal(0x08, ReadCmos(Hours));
        _clock.Now = Start.AddSeconds(7);
        Assert.Equal(0x44, ReadCmos(Seconds));
        Assert.Equal(new DateTimeOffset(2030, 11, 25, 8, 5, 44, 500, TimeSpan.Zero), _rtc.GuestTime);
    }

    [Fact]
    public void AnImpossibleDateLeavesTheClockAlone()
    {
        WriteCmos(RegisterB, BSet | B24Hour);
        WriteCmos(Month, 0x13);
        WriteCmos(RegisterB, B24Hour);

        Assert.Equal(0x11, ReadCmos(Month));
    }

    [Fact]
    public void RegisterCReportsAnUpdateOnceAfterASecondBoundaryAndClearsOnRead()
    {
        ReadCmos(RegisterC);
        Assert.Equal(0, ReadCmos(RegisterC));

        _clock.Now = Start.AddSeconds(1);
        Assert.Equal(CUpdate, ReadCmos(RegisterC) & CUpdate);
        Assert.Equal(0, ReadCmos(RegisterC) & CUpdate);

        WriteCmos(RegisterB, B24Hour | BUpdateInterrupt);
        _clock.Now = Start.AddSeconds(2);
        Assert.Equal(CInterruptRequest | CUpdate, ReadCmos(RegisterC) & (CInterruptRequest | CUpdate));
    }

    [Fact]
    public void TheIndexPortCarriesTheNmiMask()
    {
        _bus.Write(IndexPort, [0x80 | RegisterD]);
        var data = new byte[1];
        _bus.Read(IndexPort + 1, data);

        Assert.True(_rtc.NmiMasked);
        Assert.Equal(DValidRamAndTime, data[0]);
        _bus.Write(IndexPort, [RegisterD]);
        Assert.False(_rtc.NmiMasked);
    }

    [Fact]
    public void NvramKeepsWhatIsWritten()
    {
        WriteCmos(0x40, 0x5A);
        _rtc.SetNvram(0x7F, 0x11);

        Assert.Equal(0x5A, ReadCmos(0x40));
        Assert.Equal(0x11, ReadCmos(0x7F));
    }

    [Fact]
    public void UpdateInterruptsArriveEachSecondAndHoldUntilRegisterCIsRead()
    {
        ReadCmos(RegisterC);
        WriteCmos(RegisterB, B24Hour | BUpdateInterrupt);
        Assert.False(_irq.Level);

        _clock.Advance(TimeSpan.FromMilliseconds(600));
        Assert.True(_irq.Level);
        Assert.Equal(1, _irq.RisingEdges);
        Assert.Equal(CInterruptRequest | CUpdate, ReadCmos(RegisterC) & (CInterruptRequest | CUpdate));
        Assert.False(_irq.Level);

        _clock.Advance(TimeSpan.FromSeconds(3));
        Assert.Equal(2, _irq.RisingEdges);
        ReadCmos(RegisterC);
        WriteCmos(RegisterB, B24Hour);
        Assert.Equal(0, _clock.ActiveTimers);
        _clock.Advance(TimeSpan.FromSeconds(3));
        Assert.Equal(2, _irq.RisingEdges);
    }

    [Fact]
    public void TheAlarmInterruptFiresWhenTheTimeMatches()
    {
        WriteCmos(SecondsAlarm, 0x45);
        WriteCmos(MinutesAlarm, 0xC0); // don't care
        WriteCmos(HoursAlarm, 0xC0);
        ReadCmos(RegisterC);
        WriteCmos(RegisterB, B24Hour | BAlarmInterrupt);

        _clock.Advance(TimeSpan.FromSeconds(2));
        Assert.False(_irq.Level);
        _clock.Advance(TimeSpan.FromSeconds(1));
        Assert.True(_irq.Level);
        Assert.Equal(CInterruptRequest | CAlarm, ReadCmos(RegisterC) & (CInterruptRequest | CAlarm));
    }

    [Fact]
    public void PeriodicInterruptsFollowTheRateInRegisterA()
    {
        WriteCmos(RegisterA, ADividerNormal | 0x0F); // 2 Hz
        ReadCmos(RegisterC);
        WriteCmos(RegisterB, B24Hour | BPeriodicInterrupt);

        _clock.Advance(TimeSpan.FromMilliseconds(400));
        Assert.False(_irq.Level);
        _clock.Advance(TimeSpan.FromMilliseconds(100));
        Assert.True(_irq.Level);
        Assert.Equal(CInterruptRequest | CPeriodic, ReadCmos(RegisterC) & (CInterruptRequest | CPeriodic));
        _clock.Advance(TimeSpan.FromMilliseconds(500));
        Assert.True(_irq.Level);
    }

    [Fact]
    public void NoInterruptIsRaisedWhileDisabledButTheFlagsStillSet()
    {
        _clock.Advance(TimeSpan.FromSeconds(5));

        Assert.False(_irq.Level);
        Assert.Equal(0, _clock.ActiveTimers);
        Assert.Equal(CUpdate, ReadCmos(RegisterC) & (CInterruptRequest | CUpdate));
    }
}
