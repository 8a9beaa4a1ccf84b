using KvmSharp.Abi;
using KvmSharp.Soft.Platform;
using R = KvmSharp.Soft.Platform.ApicRegisters;

namespace KvmSharp.Soft.Tests.Platform;

public class GsiRouterTests
{
    private readonly ApicBus _bus = new();
    private readonly I8259Pic _pic = new();
    private readonly Ioapic _ioapic;
    private readonly GsiRouter _router;
    private readonly LocalApic _apic0;
    private readonly LocalApic _apic1;

    public GsiRouterTests()
    {
        _ioapic = new Ioapic(_bus);
        _router = new GsiRouter(_pic, _ioapic, _bus);
        var clock = new ManualClock();
        _apic0 = new LocalApic(0, clock, new RecordingVcpu(), _bus, bootstrapProcessor: true);
        _apic1 = new LocalApic(1, clock, new RecordingVcpu(), _bus);
        _apic0.WriteRegister(R.SpuriousVector, 0x1FF);
        _apic1.WriteRegister(R.SpuriousVector, 0x1FF);
    }

    [Fact]
    public void Default_table_routes_isa_gsis_to_both_chips_and_the_rest_to_the_ioapic()
    {
        var entries = GsiRouter.DefaultRouting();
        Assert.Equal(16 * 2 + 8, entries.Length);
        Assert.Contains(entries, e => e.Gsi == 0 && e.Irqchip.Irqchip == KvmConstants.KVM_IRQCHIP_IOAPIC && e.Irqchip.Pin == 0);
        Assert.Contains(entries, e => e.Gsi == 12 && e.Irqchip.Irqchip == KvmConstants.KVM_IRQCHIP_PIC_SLAVE && e.Irqchip.Pin == 4);
        Assert.DoesNotContain(entries, e => e.Gsi >= 16 && e.Irqchip.Irqchip != KvmConstants.KVM_IRQCHIP_IOAPIC);
    }

    [Fact]
    public void Isa_gsi_reaches_the_pic_and_the_ioapic_pin_of_the_same_number()
    {
        _router.SetIrq(GsiRouter.UserspaceSourceId, 0, true);
        Assert.Equal(1, _pic.GetState(0).Irr);
        Assert.Equal(1u, _ioapic.GetState().Irr);
        _router.SetIrq(GsiRouter.UserspaceSourceId, 12, true);
        Assert.Equal(1 << 4, _pic.GetState(1).Irr);
        Assert.Equal(1u | 1u << 12, _ioapic.GetState().Irr);
    }

    [Fact]
    public void Line_status_sums_what_each_route_delivered()
    {
        // PIC unmasked after reset (IMR 0) takes it; the IOAPIC pin is masked.
        Assert.Equal(1, _router.SetIrq(GsiRouter.UserspaceSourceId, 5, true));
        _pic.WritePort(0x21, 0xFF);
        _router.SetIrq(GsiRouter.UserspaceSourceId, 6, false);
        Assert.Equal(-1, _router.SetIrq(GsiRouter.UserspaceSourceId, 6, true));
        Assert.Equal(-1, _router.SetIrq(GsiRouter.UserspaceSourceId, 100, true));
    }

    [Fact]
    public void A_line_stays_high_while_any_source_drives_it()
    {
        _pic.WritePort(0x4D0, 0x20);
        _router.SetIrq(GsiRouter.UserspaceSourceId, 5, true);
        _router.SetIrq(GsiRouter.PitSourceId, 5, true);
        _router.SetIrq(GsiRouter.UserspaceSourceId, 5, false);
        Assert.Equal(1 << 5, _pic.GetState(0).Irr);
        _router.SetIrq(GsiRouter.PitSourceId, 5, false);
        Assert.Equal(0, _pic.GetState(0).Irr);
    }

    [Fact]
    public void Msi_route_delivers_to_the_apic_named_by_the_address()
    {
        _router.SetRouting([GsiRouter.MsiEntry(40, 0xFEE0_1000, 0x4062)]);
        Assert.Equal(1, _router.SetIrq(GsiRouter.UserspaceSourceId, 40, true));
        Assert.False(_apic0.HasInterrupt);
        Assert.True(_apic1.TryAcknowledge(out byte vector));
        Assert.Equal(0x62, vector);
        Assert.Equal(-1, _router.SetIrq(GsiRouter.UserspaceSourceId, 40, false));
        // The old table is gone.
        Assert.Equal(-1, _router.SetIrq(GsiRouter.UserspaceSourceId, 4, true));
    }

    [Fact]
    public void Signal_msi_decodes_destination_mode_and_vector()
    {
        _apic0.WriteRegister(R.LogicalDestination, 1u << 24);
        var msi = new KvmMsi { AddressLo = 0xFEE0_1004, Data = 0x71 };
        Assert.Equal(1, _router.SignalMsi(msi));
        Assert.True(_apic0.TryAcknowledge(out byte vector));
        Assert.Equal(0x71, vector);
        var nmi = new KvmMsi { AddressLo = 0xFEE0_0000, Data = 0x400 };
        Assert.Equal(1, _router.SignalMsi(nmi));
        Assert.Throws<KvmException>(() => _router.SignalMsi(new KvmMsi { Flags = 2 }));
    }

    [Fact]
    public void Invalid_tables_are_refused_with_einval_and_change_nothing()
    {
        var before = _router.Entries.ToArray();
        void Refused(params KvmIrqRoutingEntry[] entries)
        {
            var error = Assert.Throws<KvmException>(() => _router.SetRouting(entries));
            Assert.Equal(Errno.EINVAL, error.Errno);
            Assert.Equal(before.Length, _router.Entries.Count);
        }
        Refused(GsiRouter.IrqchipEntry(1, KvmConstants.KVM_IRQCHIP_PIC_MASTER, 8));
        Refused(GsiRouter.IrqchipEntry(1, KvmConstants.KVM_IRQCHIP_IOAPIC, 24));
        Refused(GsiRouter.IrqchipEntry(1, 3, 0));
        Refused(GsiRouter.IrqchipEntry(4096, KvmConstants.KVM_IRQCHIP_IOAPIC, 0));
        Refused(GsiRouter.IrqchipEntry(1, KvmConstants.KVM_IRQCHIP_IOAPIC, 1), GsiRouter.IrqchipEntry(1, KvmConstants.KVM_IRQCHIP_IOAPIC, 2));
        Refused(GsiRouter.MsiEntry(1, 0xFEE00000, 0x30), GsiRouter.IrqchipEntry(1, KvmConstants.KVM_IRQCHIP_IOAPIC, 2));
        Refused(new KvmIrqRoutingEntry { Gsi = 1, Type = 99 });
        var flagged = GsiRouter.IrqchipEntry(1, KvmConstants.KVM_IRQCHIP_IOAPIC, 1);
        flagged.Flags = 1;
        Refused(flagged);
        Assert.Throws<KvmException>(() => _router.SetRouting([], flags: 1));
    }

    [Fact]
    public void Pit_ticks_reach_the_cpu_through_the_pic()
    {
        var clock = new ManualClock();
        var pit = new I8254Pit(clock);
        pit.TimerInterrupt += () => _router.Pulse(GsiRouter.PitSourceId, 0);
        _router.GsiAcknowledged += gsi =>
        {
            if (gsi == 0)
                pit.AcknowledgeIrq();
        };
        _apic0.Pic = _pic;
        _pic.WritePort(0x20, 0x11);
        _pic.WritePort(0x21, 0x08);
        _pic.WritePort(0x21, 0x04);
        _pic.WritePort(0x21, 0x01);
        pit.WritePort(I8254Pit.ControlPort, 0x34);
        pit.WritePort(0x40, 0x9C);
        pit.WritePort(0x40, 0x2E); // 11932: 100 Hz
        int taken = 0;
        for (int i = 0; i < 100; i++)
        {
            clock.Advance(1_000_000);
            pit.PollTimers();
            if (_apic0.TryAcknowledge(out byte vector))
            {
                Assert.Equal(0x08, vector);
                _pic.WritePort(0x20, 0x20);
                taken++;
            }
        }
        Assert.InRange(taken, 9, 11);
    }
}
