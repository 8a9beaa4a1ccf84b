using KvmSharp.Abi;
using KvmSharp.Soft.Platform;

namespace KvmSharp.Soft.Tests.Platform;

public class I8259PicTests
{
    // The sequence PC BIOSes and Linux use: edge, cascade, ICW4 present, 8086 mode.
    private static I8259Pic Initialized(byte masterBase = 0x20, byte slaveBase = 0x28, byte icw4 = 0x01)
    {
        var pic = new I8259Pic();
        pic.WritePort(0x20, 0x11);
        pic.WritePort(0x21, masterBase);
        pic.WritePort(0x21, 0x04);
        pic.WritePort(0x21, icw4);
        pic.WritePort(0xA0, 0x11);
        pic.WritePort(0xA1, slaveBase);
        pic.WritePort(0xA1, 0x02);
        pic.WritePort(0xA1, icw4);
        return pic;
    }

    [Fact]
    public void Reset_state_is_zero_but_the_elcr_masks()
    {
        var pic = new I8259Pic();
        Assert.Equal(Bytes.Of(new KvmPicState { ElcrMask = 0xF8 }), Bytes.Of(pic.GetState(0)));
        Assert.Equal(Bytes.Of(new KvmPicState { ElcrMask = 0xDE }), Bytes.Of(pic.GetState(1)));
    }

    [Fact]
    public void Init_sequence_walks_icw1_to_icw4()
    {
        var pic = new I8259Pic();
        pic.WritePort(0x20, 0x11);
        Assert.Equal(1, pic.GetState(0).InitState);
        Assert.Equal(1, pic.GetState(0).Init4);
        pic.WritePort(0x21, 0x27);
        Assert.Equal(2, pic.GetState(0).InitState);
        Assert.Equal(0x20, pic.GetState(0).IrqBase);
        pic.WritePort(0x21, 0x04);
        Assert.Equal(3, pic.GetState(0).InitState);
        pic.WritePort(0x21, 0x13);
        var state = pic.GetState(0);
        Assert.Equal(0, state.InitState);
        Assert.Equal(1, state.AutoEoi);
        Assert.Equal(1, state.SpecialFullyNestedMode);
        // Now data writes go to IMR.
        pic.WritePort(0x21, 0xFB);
        Assert.Equal(0xFB, pic.ReadPort(0x21));
    }

    [Fact]
    public void Without_icw4_initialization_ends_after_icw3()
    {
        var pic = new I8259Pic();
        pic.WritePort(0x20, 0x10);
        pic.WritePort(0x21, 0x08);
        pic.WritePort(0x21, 0x04);
        Assert.Equal(0, pic.GetState(0).InitState);
    }

    [Fact]
    public void Lower_irq_number_wins_and_in_service_blocks_lower_priorities()
    {
        var pic = Initialized();
        pic.SetIrq(3, true);
        pic.SetIrq(1, true);
        Assert.True(pic.Output);
        Assert.Equal(0x21, pic.Acknowledge());
        Assert.Equal(0b0010, pic.GetState(0).Isr);
        // IRQ 3 waits behind IRQ 1 in service.
        Assert.False(pic.Output);
        pic.SetIrq(0, true);
        Assert.True(pic.Output);
        Assert.Equal(0x20, pic.Acknowledge());
        // Non-specific EOI retires the highest in service (IRQ 0), then IRQ 1.
        pic.WritePort(0x20, 0x20);
        Assert.Equal(0b0010, pic.GetState(0).Isr);
        Assert.False(pic.Output);
        pic.WritePort(0x20, 0x20);
        Assert.True(pic.Output);
        Assert.Equal(0x23, pic.Acknowledge());
    }

    [Fact]
    public void Specific_eoi_clears_the_named_level()
    {
        var pic = Initialized();
        pic.SetIrq(4, true);
        pic.SetIrq(5, true);
        Assert.Equal(0x24, pic.Acknowledge());
        pic.WritePort(0x20, 0x60 | 4);
        Assert.Equal(0x25, pic.Acknowledge());
        pic.WritePort(0x20, 0x60 | 4);
        Assert.Equal(0b10_0000, pic.GetState(0).Isr);
        pic.WritePort(0x20, 0x60 | 5);
        Assert.Equal(0, pic.GetState(0).Isr);
    }

    [Fact]
    public void Rotate_on_eoi_makes_the_served_irq_lowest()
    {
        var pic = Initialized();
        pic.SetIrq(1, true);
        Assert.Equal(0x21, pic.Acknowledge());
        pic.WritePort(0x20, 0xA0); // rotate on non-specific EOI
        Assert.Equal(2, pic.GetState(0).PriorityAdd);
        pic.SetIrq(1, false);
        pic.SetIrq(1, true);
        pic.SetIrq(6, true);
        // IRQ 6 now outranks IRQ 1.
        Assert.Equal(0x26, pic.Acknowledge());
    }

    [Fact]
    public void Set_priority_command_names_the_lowest_irq()
    {
        var pic = Initialized();
        pic.WritePort(0x20, 0xC0 | 4); // IRQ 4 lowest, IRQ 5 highest
        pic.SetIrq(3, true);
        pic.SetIrq(5, true);
        Assert.Equal(0x25, pic.Acknowledge());
    }

    [Fact]
    public void Auto_eoi_leaves_nothing_in_service()
    {
        var pic = Initialized(icw4: 0x03);
        pic.SetIrq(3, true);
        Assert.Equal(0x23, pic.Acknowledge());
        Assert.Equal(0, pic.GetState(0).Isr);
    }

    [Fact]
    public void Rotate_in_auto_eoi_mode_rotates_at_acknowledge()
    {
        var pic = Initialized(icw4: 0x03);
        pic.WritePort(0x20, 0x80);
        Assert.Equal(1, pic.GetState(0).RotateOnAutoEoi);
        pic.SetIrq(3, true);
        pic.Acknowledge();
        Assert.Equal(4, pic.GetState(0).PriorityAdd);
        pic.WritePort(0x20, 0x00);
        Assert.Equal(0, pic.GetState(0).RotateOnAutoEoi);
    }

    [Fact]
    public void Slave_interrupts_cascade_through_master_irq2()
    {
        var pic = Initialized();
        var acked = new List<int>();
        pic.InterruptAcknowledged += acked.Add;
        pic.SetIrq(10, true);
        Assert.Equal(0b100, pic.GetState(0).Irr);
        Assert.True(pic.Output);
        Assert.Equal(0x2A, pic.Acknowledge());
        Assert.Equal(0b100, pic.GetState(0).Isr);
        Assert.Equal(0b100, pic.GetState(1).Isr);
        pic.WritePort(0xA0, 0x20);
        pic.WritePort(0x20, 0x20);
        Assert.Equal(0, pic.GetState(0).Isr);
        Assert.Equal(0, pic.GetState(1).Isr);
        Assert.Equal([10, 2], acked);
    }

    [Fact]
    public void Masked_slave_gives_spurious_irq15_vector_on_late_acknowledge()
    {
        var pic = Initialized();
        Assert.Equal(0x27, pic.Acknowledge());
        pic.SetIrq(9, true);
        pic.WritePort(0xA1, 0x02);
        // The master still latched IRQ 2; the slave no longer presents anything.
        Assert.True(pic.Output);
        Assert.Equal(0x2F, pic.Acknowledge());
    }

    [Fact]
    public void Elcr_makes_a_pin_level_triggered_within_its_mask()
    {
        var pic = Initialized();
        pic.WritePort(0x4D0, 0xFF);
        pic.WritePort(0x4D1, 0xFF);
        Assert.Equal(0xF8, pic.ReadPort(0x4D0));
        Assert.Equal(0xDE, pic.ReadPort(0x4D1));
        pic.SetIrq(11, true);
        Assert.Equal(0x2B, pic.Acknowledge());
        // The request stays while the line is high, and returns after EOI.
        Assert.Equal(0b1000, pic.GetState(1).Irr);
        pic.WritePort(0xA0, 0x20);
        pic.WritePort(0x20, 0x20);
        Assert.True(pic.Output);
        Assert.Equal(0x2B, pic.Acknowledge());
        // Dropped before the EOIs, the line requests nothing more.
        pic.SetIrq(11, false);
        Assert.Equal(0, pic.GetState(1).Irr);
        pic.WritePort(0xA0, 0x20);
        pic.WritePort(0x20, 0x20);
        Assert.False(pic.Output);
    }

    [Fact]
    public void Edge_pin_held_high_requests_once()
    {
        var pic = Initialized();
        Assert.Equal(1, pic.SetIrq(4, true));
        pic.SetIrq(4, false);
        // A second edge before the first is taken merges with it.
        Assert.Equal(0, pic.SetIrq(4, true));
        Assert.Equal(0x24, pic.Acknowledge());
        pic.WritePort(0x20, 0x20);
        pic.SetIrq(4, true);
        Assert.False(pic.Output);
        pic.SetIrq(4, false);
        Assert.Equal(1, pic.SetIrq(4, true));
        Assert.True(pic.Output);
    }

    [Fact]
    public void Masked_pin_reports_minus_one_and_stays_pending()
    {
        var pic = Initialized();
        pic.WritePort(0x21, 0x10);
        Assert.Equal(-1, pic.SetIrq(4, true));
        Assert.False(pic.Output);
        pic.WritePort(0x21, 0x00);
        Assert.True(pic.Output);
    }

    [Fact]
    public void Ocw3_selects_irr_or_isr_for_command_port_reads()
    {
        var pic = Initialized();
        pic.SetIrq(5, true);
        pic.SetIrq(6, true);
        Assert.Equal(0x60, pic.ReadPort(0x20));
        pic.Acknowledge();
        pic.WritePort(0x20, 0x0B);
        Assert.Equal(0x20, pic.ReadPort(0x20));
        pic.WritePort(0x20, 0x0A);
        Assert.Equal(0x40, pic.ReadPort(0x20));
    }

    [Fact]
    public void Poll_command_returns_the_highest_request_once()
    {
        var pic = Initialized();
        pic.SetIrq(6, true);
        pic.WritePort(0x20, 0x0C);
        Assert.Equal(1, pic.GetState(0).Poll);
        Assert.Equal(0x86, pic.ReadPort(0x20));
        Assert.Equal(0, pic.GetState(0).Poll);
        Assert.Equal(0, pic.GetState(0).Irr);
        pic.WritePort(0x20, 0x0C);
        Assert.Equal(0x07, pic.ReadPort(0x20));
    }

    [Fact]
    public void Special_mask_mode_lets_lower_priorities_past_a_masked_level_in_service()
    {
        var pic = Initialized();
        pic.SetIrq(2 + 1, true);
        Assert.Equal(0x23, pic.Acknowledge());
        pic.SetIrq(5, true);
        Assert.False(pic.Output);
        pic.WritePort(0x21, 0x08);
        pic.WritePort(0x20, 0x68); // set special mask
        Assert.Equal(1, pic.GetState(0).SpecialMask);
        Assert.True(pic.Output);
        Assert.Equal(0x25, pic.Acknowledge());
    }

    [Fact]
    public void Acknowledge_with_nothing_pending_is_spurious_irq7()
    {
        var pic = Initialized(masterBase: 0x08);
        Assert.Equal(0x0F, pic.Acknowledge());
        Assert.Equal(0, pic.GetState(0).Isr);
    }

    [Fact]
    public void Interrupt_requested_fires_when_the_output_rises()
    {
        var pic = Initialized();
        int requests = 0;
        pic.InterruptRequested += () => requests++;
        pic.SetIrq(3, true);
        Assert.Equal(1, requests);
    }

    [Fact]
    public void State_round_trips_byte_for_byte()
    {
        var pic = Initialized();
        pic.WritePort(0x4D0, 0x20);
        pic.SetIrq(5, true);
        pic.SetIrq(3, true);
        pic.Acknowledge();
        pic.WritePort(0x20, 0xC0 | 2);
        var master = pic.GetState(0);
        var slave = pic.GetState(1);

        var copy = new I8259Pic();
        copy.SetState(0, master);
        copy.SetState(1, slave);
        Assert.Equal(Bytes.Of(master), Bytes.Of(copy.GetState(0)));
        Assert.Equal(Bytes.Of(slave), Bytes.Of(copy.GetState(1)));
        Assert.Equal(pic.Output, copy.Output);
    }

    // KVM copies the state in and only then re-evaluates the cascade, so any
    // bytes read back unchanged while the other chip asks for nothing.
    [Fact]
    public void Any_state_set_reads_back_unchanged()
    {
        var random = new Random(8259);
        for (int i = 0; i < 200; i++)
        {
            var pic = new I8259Pic();
            var bytes = new byte[16];
            random.NextBytes(bytes);
            var state = System.Runtime.InteropServices.MemoryMarshal.Read<KvmPicState>(bytes);
            pic.SetState(i & 1, state);
            Assert.Equal(bytes, Bytes.Of(pic.GetState(i & 1)));
        }
    }
}
