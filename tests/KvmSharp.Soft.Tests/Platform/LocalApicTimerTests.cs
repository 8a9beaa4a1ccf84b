using KvmSharp.Soft.Platform;
using R = KvmSharp.Soft.Platform.ApicRegisters;

namespace KvmSharp.Soft.Tests.Platform;

// KVM's APIC bus runs at 1 GHz, so with divide-by-1 (TDCR 0xB) one count is 1 ns.
public class LocalApicTimerTests
{
    private const uint OneShot = 0;
    private const uint Periodic = 1 << 17;
    private const uint TscDeadline = 2 << 17;

    private readonly ManualClock _clock = new(5_000_000_000);
    private readonly LocalApic _apic;
    private readonly RecordingVcpu _vcpu = new();

    public LocalApicTimerTests()
    {
        _apic = new LocalApic(0, _clock, _vcpu);
        _apic.WriteRegister(R.SpuriousVector, 0x1FF);
    }

    private int Ticks()
    {
        int ticks = 0;
        while (_apic.TryAcknowledge(out byte vector))
        {
            Assert.Equal(0xEC, vector);
            _apic.WriteRegister(R.Eoi, 0);
            ticks++;
        }
        return ticks;
    }

    private void AdvanceAndPoll(long nanoseconds, long step)
    {
        for (long t = 0; t < nanoseconds; t += step)
        {
            _clock.Advance(step);
            _apic.PollTimers();
        }
    }

    [Theory]
    [InlineData(0x0, 2)]
    [InlineData(0x1, 4)]
    [InlineData(0x2, 8)]
    [InlineData(0x3, 16)]
    [InlineData(0x8, 32)]
    [InlineData(0x9, 64)]
    [InlineData(0xA, 128)]
    [InlineData(0xB, 1)]
    public void Divide_configuration_scales_the_count(uint tdcr, int divisor)
    {
        _apic.WriteRegister(R.LvtTimer, OneShot | 0xEC);
        _apic.WriteRegister(R.TimerDivide, tdcr);
        _apic.WriteRegister(R.TimerInitialCount, 1000);
        Assert.Equal(_clock.Nanoseconds + 1000L * divisor, _apic.NextDeadline);
        _clock.Advance(100L * divisor);
        Assert.Equal(900u, _apic.ReadRegister(R.TimerCurrentCount));
    }

    [Fact]
    public void One_shot_counts_down_fires_once_and_stays_at_zero()
    {
        _apic.WriteRegister(R.TimerDivide, 0xB);
        _apic.WriteRegister(R.LvtTimer, OneShot | 0xEC);
        _apic.WriteRegister(R.TimerInitialCount, 10_000);
        _clock.Advance(2_500);
        Assert.Equal(7_500u, _apic.ReadRegister(R.TimerCurrentCount));
        _apic.PollTimers();
        Assert.Equal(0, Ticks());
        AdvanceAndPoll(100_000, 1_000);
        Assert.Equal(1, Ticks());
        Assert.Equal(0u, _apic.ReadRegister(R.TimerCurrentCount));
        Assert.Equal(10_000u, _apic.ReadRegister(R.TimerInitialCount));
        Assert.Equal(long.MaxValue, _apic.NextDeadline);
    }

    [Fact]
    public void Periodic_fires_every_period_and_reloads()
    {
        _apic.WriteRegister(R.TimerDivide, 0xB);
        _apic.WriteRegister(R.LvtTimer, Periodic | 0xEC);
        _apic.WriteRegister(R.TimerInitialCount, 1_000_000);
        int ticks = 0;
        for (int i = 0; i < 50; i++)
        {
            AdvanceAndPoll(1_000_000, 250_000);
            ticks += Ticks();
        }
        Assert.Equal(50, ticks);
        _clock.Advance(300_000);
        Assert.Equal(700_000u, _apic.ReadRegister(R.TimerCurrentCount));
    }

    [Fact]
    public void Periodic_period_is_at_least_200_microseconds()
    {
        _apic.WriteRegister(R.TimerDivide, 0xB);
        _apic.WriteRegister(R.LvtTimer, Periodic | 0xEC);
        _apic.WriteRegister(R.TimerInitialCount, 1_000);
        Assert.Equal(_clock.Nanoseconds + 200_000, _apic.NextDeadline);
    }

    [Fact]
    public void Masked_timer_counts_but_raises_nothing()
    {
        _apic.WriteRegister(R.TimerDivide, 0xB);
        _apic.WriteRegister(R.LvtTimer, 0x10000 | OneShot | 0xEC);
        _apic.WriteRegister(R.TimerInitialCount, 1_000);
        AdvanceAndPoll(10_000, 1_000);
        Assert.Equal(0, Ticks());
        Assert.Equal(long.MaxValue, _apic.NextDeadline);
    }

    [Fact]
    public void Writing_zero_initial_count_stops_the_timer()
    {
        _apic.WriteRegister(R.TimerDivide, 0xB);
        _apic.WriteRegister(R.LvtTimer, Periodic | 0xEC);
        _apic.WriteRegister(R.TimerInitialCount, 1_000_000);
        _apic.WriteRegister(R.TimerInitialCount, 0);
        AdvanceAndPoll(5_000_000, 1_000_000);
        Assert.Equal(0, Ticks());
    }

    [Fact]
    public void Tsc_deadline_fires_when_the_tsc_reaches_it_then_disarms()
    {
        var tsc = new FixedRateTsc(_clock, 2_000_000); // 2 GHz
        _apic.Tsc = tsc;
        _apic.WriteRegister(R.LvtTimer, TscDeadline | 0xEC);
        // Initial-count writes are ignored in TSC-deadline mode.
        _apic.WriteRegister(R.TimerInitialCount, 1234);
        Assert.Equal(0u, _apic.ReadRegister(R.TimerInitialCount));
        ulong deadline = tsc.Now + 2_000_000; // 1 ms
        _apic.TscDeadline = deadline;
        Assert.Equal(deadline, _apic.TscDeadline);
        Assert.Equal(_clock.Nanoseconds + 1_000_000, _apic.NextDeadline);
        AdvanceAndPoll(900_000, 100_000);
        Assert.Equal(0, Ticks());
        AdvanceAndPoll(200_000, 100_000);
        Assert.Equal(1, Ticks());
        Assert.Equal(0ul, _apic.TscDeadline);
        AdvanceAndPoll(5_000_000, 1_000_000);
        Assert.Equal(0, Ticks());
    }

    [Fact]
    public void Tsc_deadline_in_the_past_fires_at_the_next_poll()
    {
        var tsc = new FixedRateTsc(_clock, 1_000_000);
        _apic.Tsc = tsc;
        _apic.WriteRegister(R.LvtTimer, TscDeadline | 0xEC);
        _apic.TscDeadline = 1;
        _apic.PollTimers();
        Assert.Equal(1, Ticks());
    }

    [Fact]
    public void Tsc_deadline_msr_is_ignored_outside_its_mode_and_leaving_the_mode_disarms()
    {
        _apic.Tsc = new FixedRateTsc(_clock, 1_000_000);
        _apic.WriteRegister(R.LvtTimer, OneShot | 0xEC);
        _apic.TscDeadline = ulong.MaxValue / 2;
        Assert.Equal(0ul, _apic.TscDeadline);
        _apic.WriteRegister(R.LvtTimer, TscDeadline | 0xEC);
        _apic.TscDeadline = ulong.MaxValue / 2;
        _apic.WriteRegister(R.LvtTimer, Periodic | 0xEC);
        Assert.Equal(long.MaxValue, _apic.NextDeadline);
    }

    [Fact]
    public void Set_state_keeps_an_armed_tsc_deadline()
    {
        var tsc = new FixedRateTsc(_clock, 1_000_000);
        _apic.Tsc = tsc;
        _apic.WriteRegister(R.LvtTimer, TscDeadline | 0xEC);
        _apic.TscDeadline = tsc.Now + 5_000;
        _apic.SetState(_apic.GetState());
        Assert.Equal(tsc.Now + 5_000, _apic.TscDeadline);
        AdvanceAndPoll(5_000, 1_000);
        Assert.Equal(1, Ticks());
    }

    [Fact]
    public void Deadline_changes_are_announced()
    {
        int changes = 0;
        _apic.DeadlineChanged += () => changes++;
        _apic.WriteRegister(R.LvtTimer, OneShot | 0xEC);
        _apic.WriteRegister(R.TimerInitialCount, 1_000);
        Assert.True(changes >= 2);
    }
}
