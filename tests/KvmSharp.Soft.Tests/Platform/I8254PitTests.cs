using KvmSharp.Abi;
using KvmSharp.Soft.Platform;

namespace KvmSharp.Soft.Tests.Platform;

public class I8254PitTests
{
    private readonly ManualClock _clock = new(7_000_000_000);
    private readonly I8254Pit _pit;

    public I8254PitTests() => _pit = new I8254Pit(_clock);

    // Time for n input clocks at 1.193182 MHz, rounded up so the count has moved.
    private static long Clocks(long n) => (n * 1_000_000_000 + I8254Pit.Frequency - 1) / I8254Pit.Frequency;

    private void Program(int channel, byte mode, ushort count, byte access = 3)
    {
        _pit.WritePort(I8254Pit.ControlPort, (byte)((channel << 6) | (access << 4) | (mode << 1)));
        if (access is 1 or 3)
            _pit.WritePort((ushort)(0x40 + channel), (byte)count);
        if (access is 2 or 3)
            _pit.WritePort((ushort)(0x40 + channel), (byte)(count >> 8));
    }

    private ushort ReadWord(int channel)
    {
        byte low = _pit.ReadPort((ushort)(0x40 + channel));
        byte high = _pit.ReadPort((ushort)(0x40 + channel));
        return (ushort)(low | (high << 8));
    }

    [Fact]
    public void Reset_leaves_channels_unprogrammed_with_full_counts()
    {
        var state = _pit.GetState();
        Assert.Equal(0u, state.Flags);
        for (int i = 0; i < 3; i++)
        {
            Assert.Equal(0x10000u, state.Channels[i].Count);
            Assert.Equal(0xFF, state.Channels[i].Mode);
            Assert.Equal(i == 2 ? 0 : 1, state.Channels[i].Gate);
        }
        // Channel 0's load time is only stamped when its timer starts.
        Assert.Equal(0, state.Channels[0].CountLoadTime);
        Assert.Equal(_clock.Nanoseconds, state.Channels[1].CountLoadTime);
    }

    [Fact]
    public void Mode_2_counts_down_and_reloads_each_period()
    {
        Program(0, 2, 1000);
        _clock.Advance(Clocks(250));
        Assert.Equal(750, ReadWord(0));
        _clock.Advance(Clocks(1000));
        Assert.Equal(750, ReadWord(0));
    }

    [Fact]
    public void Mode_3_counts_down_by_two_and_outputs_a_square_wave()
    {
        Program(1, 3, 1000);
        _clock.Advance(Clocks(100));
        Assert.Equal(800, ReadWord(1));
        Assert.True(_pit.GetOutput(1));
        _clock.Advance(Clocks(450));
        Assert.False(_pit.GetOutput(1));
    }

    [Fact]
    public void Mode_0_output_rises_at_terminal_count_and_the_counter_wraps()
    {
        Program(0, 0, 100);
        Assert.False(_pit.GetOutput(0));
        _clock.Advance(Clocks(100));
        Assert.True(_pit.GetOutput(0));
        _clock.Advance(Clocks(10));
        Assert.Equal(0xFFF6, ReadWord(0));
    }

    // Modes 1 and 5 are started by the gate's rising edge; KVM models that by
    // restarting the count, and computes OUT as the Linux model does.
    [Theory]
    [InlineData(1)]
    [InlineData(5)]
    public void Hardware_triggered_modes_restart_on_a_rising_gate(byte mode)
    {
        Program(2, mode, 1000);
        _clock.Advance(Clocks(600));
        Assert.Equal(400, ReadWord(2));
        _pit.WritePort(0x61, 0x01);
        _clock.Advance(Clocks(100));
        Assert.Equal(900, ReadWord(2));
        Assert.Equal(mode == 1, _pit.GetOutput(2));
    }

    [Fact]
    public void Mode_4_strobes_out_at_terminal_count_and_ignores_the_gate()
    {
        Program(2, 4, 500);
        _clock.Advance(Clocks(300));
        _pit.WritePort(0x61, 0x01);
        Assert.Equal(200, ReadWord(2));
        Assert.False(_pit.GetOutput(2));
        _clock.Advance(Clocks(200));
        Assert.True(_pit.GetOutput(2));
        _clock.Advance(Clocks(1));
        Assert.False(_pit.GetOutput(2));
    }

    [Fact]
    public void Latched_count_holds_still_while_time_passes()
    {
        Program(2, 0, 5000);
        _clock.Advance(Clocks(1000));
        _pit.WritePort(I8254Pit.ControlPort, 0x80); // latch channel 2
        _clock.Advance(Clocks(1000));
        Assert.Equal(4000, ReadWord(2));
        Assert.Equal(3000, ReadWord(2));
    }

    [Fact]
    public void Lsb_and_msb_only_access_modes_read_and_write_one_byte()
    {
        Program(1, 2, 0x3400, access: 2);
        Assert.Equal(0x3400u, _pit.GetState().Channels[1].Count);
        Assert.Equal(0x34, _pit.ReadPort(0x41));
        Program(1, 2, 0x56, access: 1);
        Assert.Equal(0x56u, _pit.GetState().Channels[1].Count);
        Assert.Equal(0x56, _pit.ReadPort(0x41));
    }

    [Fact]
    public void Read_back_latches_status_then_count()
    {
        Program(0, 2, 1000);
        _clock.Advance(Clocks(10));
        _pit.WritePort(I8254Pit.ControlPort, 0xC2); // count and status of channel 0
        _clock.Advance(Clocks(100));
        // Status: output, access 3 (word), mode 2, binary.
        Assert.Equal(0x34, _pit.ReadPort(0x40));
        Assert.Equal(990, ReadWord(0));
        Assert.Equal(890, ReadWord(0));
    }

    [Fact]
    public void Modes_6_and_7_alias_2_and_3()
    {
        _pit.WritePort(I8254Pit.ControlPort, 0x3C);
        Assert.Equal(2, _pit.GetState().Channels[0].Mode);
        _pit.WritePort(I8254Pit.ControlPort, 0x3E);
        Assert.Equal(3, _pit.GetState().Channels[0].Mode);
    }

    [Fact]
    public void Bcd_counts_in_decimal()
    {
        _pit.WritePort(I8254Pit.ControlPort, 0x71); // channel 1, word, mode 0, BCD
        _pit.WritePort(0x41, 0x00);
        _pit.WritePort(0x41, 0x10); // 1000 decimal
        _clock.Advance(Clocks(1));
        Assert.Equal(0x0999, ReadWord(1));
        _clock.Advance(Clocks(999));
        Assert.Equal(0x0000, ReadWord(1));
        _clock.Advance(Clocks(1));
        Assert.Equal(0x9999, ReadWord(1));
    }

    [Fact]
    public void Port_61_drives_channel_2_gate_and_shows_its_output()
    {
        Program(2, 2, 100);
        Assert.Equal(0, _pit.ReadPort(0x61) & 1);
        _pit.WritePort(0x61, 0x03);
        byte value = _pit.ReadPort(0x61);
        Assert.Equal(0x03, value & 0x03);
        Assert.Equal((uint)KvmConstants.KVM_PIT_FLAGS_SPEAKER_DATA_ON, _pit.GetState().Flags);
        // The rising gate restarted mode 2; KVM's OUT pulses at each reload.
        _clock.Advance(Clocks(100));
        Assert.Equal(0x20, _pit.ReadPort(0x61) & 0x20);
    }

    [Fact]
    public void Channel_0_in_mode_2_interrupts_once_per_period()
    {
        int ticks = 0;
        _pit.Reinject = false;
        _pit.TimerInterrupt += () => ticks++;
        Program(0, 2, 11932); // ~10 ms
        long period = 11932L * 1_000_000_000 / I8254Pit.Frequency;
        Assert.Equal(_clock.Nanoseconds + period, _pit.NextDeadline);
        for (int i = 0; i < 1000; i++)
        {
            _clock.Advance(1_000_000);
            _pit.PollTimers();
        }
        Assert.InRange(ticks, 99, 101);
    }

    [Fact]
    public void Channel_0_in_mode_0_interrupts_once()
    {
        int ticks = 0;
        _pit.TimerInterrupt += () => ticks++;
        Program(0, 0, 1193);
        for (int i = 0; i < 10; i++)
        {
            _clock.Advance(1_000_000);
            _pit.PollTimers();
        }
        Assert.Equal(1, ticks);
        Assert.Equal(long.MaxValue, _pit.NextDeadline);
    }

    [Fact]
    public void Reinject_mode_holds_ticks_until_each_is_acknowledged()
    {
        int ticks = 0;
        _pit.TimerInterrupt += () => ticks++;
        Assert.True(_pit.Reinject);
        Program(0, 2, 11932);
        for (int i = 0; i < 5; i++)
        {
            _clock.Advance(10_100_000); // the period is 10.000016 ms
            _pit.PollTimers();
        }
        Assert.Equal(1, ticks);
        Assert.Equal(5, _pit.PendingTicks);
        for (int i = 0; i < 5; i++)
            _pit.AcknowledgeIrq();
        Assert.Equal(5, ticks);
        Assert.Equal(0, _pit.PendingTicks);
        // Acknowledged and idle: the next expiry goes out at once.
        _clock.Advance(10_000_000);
        _pit.PollTimers();
        Assert.Equal(6, ticks);
    }

    [Fact]
    public void Hpet_legacy_mode_silences_channel_0()
    {
        var state = _pit.GetState();
        state.Flags = KvmConstants.KVM_PIT_FLAGS_HPET_LEGACY;
        _pit.SetState(state);
        Program(0, 2, 1000);
        Assert.Equal(long.MaxValue, _pit.NextDeadline);
    }

    [Fact]
    public void State_round_trips_except_the_load_time_which_set_restamps()
    {
        Program(0, 2, 1000);
        Program(1, 3, 0x1234, access: 1);
        _pit.WritePort(I8254Pit.ControlPort, 0x80);
        _pit.WritePort(0x42, 0x77);
        _clock.Advance(123_456);
        var state = _pit.GetState();

        var copy = new I8254Pit(_clock);
        copy.SetState(state);
        var back = copy.GetState();
        for (int i = 0; i < 3; i++)
        {
            Assert.Equal(_clock.Nanoseconds, back.Channels[i].CountLoadTime);
            back.Channels[i].CountLoadTime = state.Channels[i].CountLoadTime;
        }
        Assert.Equal(Bytes.Of(state), Bytes.Of(back));
    }
}
