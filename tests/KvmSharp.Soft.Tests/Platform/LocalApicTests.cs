using KvmSharp.Soft.Platform;
using R = KvmSharp.Soft.Platform.ApicRegisters;

namespace KvmSharp.Soft.Tests.Platform;

public class LocalApicTests
{
    private readonly ManualClock _clock = new(1_000_000_000);
    private readonly ApicBus _bus = new();

    private (LocalApic Apic, RecordingVcpu Vcpu) Create(uint id, bool bsp = false, bool enable = true)
    {
        var vcpu = new RecordingVcpu();
        var apic = new LocalApic(id, _clock, vcpu, _bus, bsp);
        if (enable)
            apic.WriteRegister(R.SpuriousVector, 0x1FF);
        return (apic, vcpu);
    }

    private static ApicInterrupt Fixed(byte vector, bool level = false) =>
        new(vector, ApicDeliveryMode.Fixed, 0xFF, LevelTriggered: level);

    [Fact]
    public void Reset_registers_are_kvms()
    {
        var (bsp, _) = Create(0, bsp: true, enable: false);
        var (ap, _) = Create(3, enable: false);
        Assert.Equal(0x0000_0000u, bsp.ReadRegister(R.Id));
        Assert.Equal(0x0300_0000u, ap.ReadRegister(R.Id));
        Assert.Equal(3u, ap.ApicId);
        Assert.Equal(0x0005_0014u, ap.ReadRegister(R.Version));
        Assert.Equal(0xFFFF_FFFFu, ap.ReadRegister(R.DestinationFormat));
        Assert.Equal(0xFFu, ap.ReadRegister(R.SpuriousVector));
        Assert.Equal(0x700u, bsp.ReadRegister(R.LvtLint0));
        Assert.Equal(0x10000u, ap.ReadRegister(R.LvtLint0));
        Assert.Equal(0x10000u, ap.ReadRegister(R.LvtTimer));
        Assert.Equal(0xFEE0_0900ul, bsp.BaseMsr);
        Assert.Equal(0xFEE0_0800ul, ap.BaseMsr);
    }

    [Fact]
    public void Software_disabled_apic_refuses_fixed_interrupts()
    {
        var (apic, _) = Create(0, enable: false);
        Assert.False(apic.Accept(Fixed(0x40)));
        Assert.False(apic.HasInterrupt);
        apic.WriteRegister(R.SpuriousVector, 0x1FF);
        Assert.True(apic.Accept(Fixed(0x40)));
        Assert.True(apic.HasInterrupt);
    }

    [Fact]
    public void Highest_vector_is_taken_first_and_blocks_its_class_until_eoi()
    {
        var (apic, vcpu) = Create(0);
        apic.Accept(Fixed(0x31));
        apic.Accept(Fixed(0x51));
        Assert.True(vcpu.Signals >= 2);
        Assert.True(apic.TryAcknowledge(out byte first));
        Assert.Equal(0x51, first);
        Assert.Equal(0x50u, apic.ReadRegister(R.ProcessorPriority));
        Assert.Equal(1u << (0x51 - 0x40), apic.ReadRegister(R.Isr + 0x20));
        apic.Accept(Fixed(0x55));
        Assert.False(apic.TryAcknowledge(out _));
        apic.Accept(Fixed(0x61));
        Assert.True(apic.TryAcknowledge(out byte nested));
        Assert.Equal(0x61, nested);
        apic.WriteRegister(R.Eoi, 0);
        apic.WriteRegister(R.Eoi, 0);
        Assert.Equal(0u, apic.ReadRegister(R.ProcessorPriority));
        Assert.True(apic.TryAcknowledge(out byte next));
        Assert.Equal(0x55, next);
    }

    [Fact]
    public void Tpr_holds_back_its_class_and_below()
    {
        var (apic, _) = Create(0);
        apic.WriteRegister(R.TaskPriority, 0x4F);
        Assert.Equal(0x4Fu, apic.ReadRegister(R.ProcessorPriority));
        apic.Accept(Fixed(0x4E));
        Assert.False(apic.HasInterrupt);
        apic.Cr8 = 3;
        Assert.Equal(0x30u, apic.ReadRegister(R.TaskPriority));
        Assert.True(apic.TryAcknowledge(out byte vector));
        Assert.Equal(0x4E, vector);
        // PPR follows the higher of TPR and the class in service.
        Assert.Equal(0x40u, apic.ReadRegister(R.ProcessorPriority));
        apic.WriteRegister(R.TaskPriority, 0x7F);
        Assert.Equal(0x7Fu, apic.ReadRegister(R.ProcessorPriority));
        Assert.Equal(7ul, apic.Cr8);
    }

    [Fact]
    public void Eoi_reports_the_vector_and_whether_it_was_level_triggered()
    {
        var (apic, _) = Create(0);
        var eois = new List<(byte, bool)>();
        apic.EoiListener = new EoiRecorder(eois);
        apic.Accept(Fixed(0x45, level: true));
        Assert.Equal(1u << 5, apic.ReadRegister(R.Tmr + 0x20));
        apic.TryAcknowledge(out _);
        apic.WriteRegister(R.Eoi, 0);
        apic.Accept(Fixed(0x46));
        apic.TryAcknowledge(out _);
        apic.WriteRegister(R.Eoi, 0);
        // With nothing in service an EOI is ignored.
        apic.WriteRegister(R.Eoi, 0);
        Assert.Equal([(0x45, true), (0x46, false)], eois);
    }

    [Fact]
    public void Software_disable_masks_every_lvt_and_keeps_them_masked()
    {
        var (apic, _) = Create(0);
        apic.WriteRegister(R.LvtLint1, 0x400);
        apic.WriteRegister(R.LvtError, 0xFE);
        Assert.Equal(0x400u, apic.ReadRegister(R.LvtLint1));
        apic.WriteRegister(R.SpuriousVector, 0xFF);
        Assert.Equal(0x10400u, apic.ReadRegister(R.LvtLint1));
        Assert.Equal(0x100FEu, apic.ReadRegister(R.LvtError));
        apic.WriteRegister(R.LvtError, 0xFE);
        Assert.Equal(0x100FEu, apic.ReadRegister(R.LvtError));
    }

    [Fact]
    public void Register_writes_keep_only_writable_bits()
    {
        var (apic, _) = Create(0);
        apic.WriteRegister(R.LogicalDestination, 0x12345678);
        Assert.Equal(0x12000000u, apic.ReadRegister(R.LogicalDestination));
        apic.WriteRegister(R.DestinationFormat, 0);
        Assert.Equal(0x0FFFFFFFu, apic.ReadRegister(R.DestinationFormat));
        apic.WriteRegister(R.LvtError, 0xFFFF_FFFF);
        Assert.Equal(0x110FFu, apic.ReadRegister(R.LvtError));
        apic.WriteRegister(R.LvtLint0, 0xFFFF_FFFF);
        Assert.Equal(0x1F7FFu, apic.ReadRegister(R.LvtLint0));
        apic.WriteRegister(R.Version, 0);
        Assert.Equal(LocalApic.Version, apic.ReadRegister(R.Version));
        apic.WriteRegister(R.InterruptCommandHigh, 0xFFFF_FFFF);
        Assert.Equal(0xFF00_0000u, apic.ReadRegister(R.InterruptCommandHigh));
        Assert.Equal(0u, apic.ReadRegister(R.Eoi));
    }

    [Fact]
    public void Mmio_reads_any_bytes_of_a_register_and_writes_only_aligned_dwords()
    {
        var (apic, _) = Create(2);
        Span<byte> one = stackalloc byte[1];
        apic.ReadMmio(0x23, one);
        Assert.Equal(2, one[0]);
        apic.WriteMmio(0x80, [0x20, 0, 0]);
        Assert.Equal(0u, apic.ReadRegister(R.TaskPriority));
        apic.WriteMmio(0x80, [0x20, 0, 0, 0]);
        Assert.Equal(0x20u, apic.ReadRegister(R.TaskPriority));
    }

    [Fact]
    public void Fixed_ipi_reaches_the_physical_destination_only()
    {
        var (a, _) = Create(0);
        var (b, bVcpu) = Create(1);
        var (c, _) = Create(2);
        a.WriteRegister(R.InterruptCommandHigh, 1u << 24);
        a.WriteRegister(R.InterruptCommandLow, 0x4000 | 0x1000 | 0x77);
        Assert.True(bVcpu.Signals > 0);
        Assert.True(b.TryAcknowledge(out byte vector));
        Assert.Equal(0x77, vector);
        Assert.False(a.HasInterrupt);
        Assert.False(c.HasInterrupt);
        // The delivery-status bit never sticks.
        Assert.Equal(0x4077u, a.ReadRegister(R.InterruptCommandLow));
    }

    [Fact]
    public void Logical_flat_and_cluster_destinations_match_ldr_bits()
    {
        var (a, _) = Create(0);
        var (b, _) = Create(1);
        var (c, _) = Create(2);
        a.WriteRegister(R.LogicalDestination, 0x01u << 24);
        b.WriteRegister(R.LogicalDestination, 0x02u << 24);
        c.WriteRegister(R.LogicalDestination, 0x04u << 24);
        _bus.Deliver(new ApicInterrupt(0x50, ApicDeliveryMode.Fixed, 0x06, LogicalDestination: true));
        Assert.False(a.HasInterrupt);
        Assert.True(b.HasInterrupt);
        Assert.True(c.HasInterrupt);

        foreach (var apic in new[] { a, b, c })
            apic.WriteRegister(R.DestinationFormat, 0x0FFF_FFFF);
        a.WriteRegister(R.LogicalDestination, 0x11u << 24);
        b.WriteRegister(R.LogicalDestination, 0x21u << 24);
        Assert.True(a.MatchesDestination(new ApicInterrupt(0x50, ApicDeliveryMode.Fixed, 0x13, LogicalDestination: true), null));
        Assert.False(b.MatchesDestination(new ApicInterrupt(0x50, ApicDeliveryMode.Fixed, 0x13, LogicalDestination: true), null));
    }

    [Theory]
    [InlineData(ApicShorthand.Self, true, false)]
    [InlineData(ApicShorthand.AllIncludingSelf, true, true)]
    [InlineData(ApicShorthand.AllExcludingSelf, false, true)]
    public void Shorthands_pick_self_all_or_others(ApicShorthand shorthand, bool self, bool other)
    {
        var (a, _) = Create(0);
        var (b, _) = Create(1);
        a.WriteRegister(R.InterruptCommandHigh, 1u << 24);
        a.WriteRegister(R.InterruptCommandLow, ((uint)shorthand << 18) | 0x4000 | 0x66);
        Assert.Equal(self, a.HasInterrupt);
        Assert.Equal(other, b.HasInterrupt);
    }

    [Fact]
    public void Nmi_init_and_sipi_go_to_the_vcpu()
    {
        var (a, _) = Create(0);
        var (_, bVcpu) = Create(1);
        a.WriteRegister(R.InterruptCommandHigh, 1u << 24);
        a.WriteRegister(R.InterruptCommandLow, 0x4400);
        a.WriteRegister(R.InterruptCommandLow, 0xC500);
        // INIT level de-assert (the second half of the old INIT sequence) does nothing.
        a.WriteRegister(R.InterruptCommandLow, 0x8500);
        a.WriteRegister(R.InterruptCommandLow, 0x4609);
        Assert.Equal(1, bVcpu.Nmis);
        Assert.Equal(1, bVcpu.Inits);
        Assert.Equal([9], bVcpu.Sipis);
    }

    [Fact]
    public void Lowest_priority_delivers_to_exactly_one_enabled_apic()
    {
        var apics = Enumerable.Range(0, 4).Select(i => Create((uint)i).Apic).ToArray();
        var disabled = Create(4, enable: false).Apic;
        for (int vector = 0x40; vector < 0x48; vector++)
        {
            Assert.Equal(1, _bus.Deliver(new ApicInterrupt((byte)vector, ApicDeliveryMode.LowestPriority, 0xFF)));
            Assert.Equal(1, apics.Count(a => a.HasInterrupt));
            Assert.False(disabled.HasInterrupt);
            foreach (var apic in apics)
                if (apic.TryAcknowledge(out _))
                    apic.WriteRegister(R.Eoi, 0);
        }
    }

    [Fact]
    public void Unicast_to_nobody_reports_zero_and_unanswered_broadcast_minus_one()
    {
        var (apic, _) = Create(0);
        Assert.Equal(0, _bus.Deliver(new ApicInterrupt(0x40, ApicDeliveryMode.Fixed, 7)));
        apic.BaseMsr = 0;
        Assert.Equal(-1, _bus.Deliver(new ApicInterrupt(0x40, ApicDeliveryMode.Fixed, 0xFF)));
    }

    [Fact]
    public void Pic_output_is_taken_through_lint0_in_extint_mode()
    {
        var pic = new I8259Pic();
        pic.WritePort(0x20, 0x11);
        pic.WritePort(0x21, 0x30);
        pic.WritePort(0x21, 0x04);
        pic.WritePort(0x21, 0x01);
        var (bsp, _) = Create(0, bsp: true);
        var (ap, _) = Create(1);
        bsp.Pic = pic;
        ap.Pic = pic;
        pic.SetIrq(1, true);
        Assert.True(bsp.AcceptsPicInterrupts);
        Assert.False(ap.AcceptsPicInterrupts);
        Assert.False(ap.HasInterrupt);
        Assert.True(bsp.HasInterrupt);
        Assert.True(bsp.TryAcknowledge(out byte vector));
        Assert.Equal(0x31, vector);
        Assert.Equal(0b10, pic.GetState(0).Isr);
    }

    [Fact]
    public void Hardware_disabled_apic_passes_the_pic_and_accepts_nothing_else()
    {
        var (apic, _) = Create(1);
        apic.BaseMsr &= ~LocalApic.BaseMsrEnable;
        Assert.True(apic.AcceptsPicInterrupts);
        Assert.False(apic.Accept(Fixed(0x40)));
    }

    [Fact]
    public void State_round_trips_byte_for_byte()
    {
        var (apic, _) = Create(1);
        apic.WriteRegister(R.TaskPriority, 0x20);
        apic.WriteRegister(R.LogicalDestination, 0x08u << 24);
        apic.Accept(Fixed(0x91, level: true));
        apic.Accept(Fixed(0x35));
        apic.TryAcknowledge(out _);
        apic.WriteRegister(R.LvtTimer, 0x20000 | 0xEF);
        apic.WriteRegister(R.TimerDivide, 0xB);
        apic.WriteRegister(R.TimerInitialCount, 5_000_000);
        _clock.Advance(1_234_567);
        var state = apic.GetState();

        var (copy, _) = Create(1, enable: false);
        copy.SetState(state);
        Assert.Equal(Bytes.Of(state), Bytes.Of(copy.GetState()));
        _clock.Advance(10_000);
        Assert.Equal(apic.ReadRegister(R.TimerCurrentCount), copy.ReadRegister(R.TimerCurrentCount));
        Assert.Equal(apic.NextDeadline, copy.NextDeadline);
    }

    [Fact]
    public void Concurrent_ipis_between_two_apics_do_not_deadlock()
    {
        var (a, _) = Create(0);
        var (b, _) = Create(1);
        a.WriteRegister(R.InterruptCommandHigh, 1u << 24);
        b.WriteRegister(R.InterruptCommandHigh, 0);
        void Storm(LocalApic apic)
        {
            for (int i = 0; i < 20_000; i++)
            {
                apic.WriteRegister(R.InterruptCommandLow, 0x4000 | 0x80);
                if (apic.TryAcknowledge(out _))
                    apic.WriteRegister(R.Eoi, 0);
            }
        }
        var threads = new[] { new Thread(() => Storm(a)), new Thread(() => Storm(b)) };
        foreach (var thread in threads)
            thread.Start();
        foreach (var thread in threads)
            Assert.True(thread.Join(TimeSpan.FromSeconds(30)));
    }

    private sealed class EoiRecorder(List<(byte, bool)> eois) : IEoiListener
    {
        public void OnEoi(LocalApic source, byte vector, bool levelTriggered) => eois.Add((vector, levelTriggered));
    }
}
