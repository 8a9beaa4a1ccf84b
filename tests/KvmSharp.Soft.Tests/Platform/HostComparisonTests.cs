using KvmSharp.Abi;
using KvmSharp.Kernel;
using KvmSharp.Soft.Platform;
using R = KvmSharp.Soft.Platform.ApicRegisters;

namespace KvmSharp.Soft.Tests.Platform;

/// <summary>
/// The real /dev/kvm on this machine is the specification: the same steps,
/// through the ioctls on Host and the methods here, leave the same bytes.
/// </summary>
public sealed class HostComparisonTests : IDisposable
{
    private readonly Kvm _kvm;
    private readonly KvmSharp.Vm _vm;
    private readonly KvmSharp.Vcpu _vcpu0;
    private readonly KvmSharp.Vcpu _vcpu1;

    private readonly ManualClock _clock = new();
    private readonly ApicBus _bus = new();
    private readonly I8259Pic _pic = new();
    private readonly Ioapic _ioapic;
    private readonly GsiRouter _router;
    private readonly LocalApic _apic0;
    private readonly LocalApic _apic1;
    private readonly I8254Pit _pit;

    public HostComparisonTests()
    {
        var host = new HostKernel();
        if (!host.IsAvailable())
            Assert.Skip($"{host.DevicePath} cannot be opened on this machine.");
        _kvm = Kvm.Open(host);
        _vm = _kvm.CreateVm();
        _vm.CreateIrqchip();
        _vm.CreatePit2();
        _vcpu0 = _vm.CreateVcpu(0);
        _vcpu1 = _vm.CreateVcpu(1);

        _ioapic = new Ioapic(_bus);
        _router = new GsiRouter(_pic, _ioapic, _bus);
        _apic0 = new LocalApic(0, _clock, new RecordingVcpu(), _bus, bootstrapProcessor: true) { Pic = _pic, EoiListener = _ioapic };
        _apic1 = new LocalApic(1, _clock, new RecordingVcpu(), _bus) { Pic = _pic, EoiListener = _ioapic };
        _pit = new I8254Pit(_clock);
    }

    public void Dispose()
    {
        _vcpu1?.Dispose();
        _vcpu0?.Dispose();
        _vm?.Dispose();
        _kvm?.Dispose();
    }

    private static byte[] PicBytes(in KvmIrqchip chip) => Bytes.Of(chip.Pic);

    private static byte[] IoapicBytes(in KvmIrqchip chip) => Bytes.Of(chip.Ioapic);

    private void AssertSameChips(string step)
    {
        Assert.True(Bytes.Of(_pic.GetState(0)).SequenceEqual(PicBytes(_vm.GetIrqchip(0))), $"master PIC after {step}");
        Assert.True(Bytes.Of(_pic.GetState(1)).SequenceEqual(PicBytes(_vm.GetIrqchip(1))), $"slave PIC after {step}");
        var hostIoapic = _vm.GetIrqchip(2).Ioapic;
        Assert.True(Bytes.Of(_ioapic.GetState()).SequenceEqual(Bytes.Of(hostIoapic)),
            $"IOAPIC after {step}: IRR model 0x{_ioapic.GetState().Irr:x}, host 0x{hostIoapic.Irr:x}");
    }

    private void AssertSameLapics(string step)
    {
        AssertSamePage(_apic0.GetState(), _vcpu0.GetLapic(), $"LAPIC 0 after {step}");
        AssertSamePage(_apic1.GetState(), _vcpu1.GetLapic(), $"LAPIC 1 after {step}");
    }

    // Names each register that differs, so a mismatch reads as a finding.
    private static void AssertSamePage(in KvmLapicState model, in KvmLapicState host, string what)
    {
        var m = Bytes.Of(model);
        var h = Bytes.Of(host);
        var differences = new List<string>();
        for (int offset = 0; offset < m.Length; offset += 16)
        {
            uint mv = BitConverter.ToUInt32(m, offset);
            uint hv = BitConverter.ToUInt32(h, offset);
            if (mv != hv || !m.AsSpan(offset, 16).SequenceEqual(h.AsSpan(offset, 16)))
                differences.Add($"0x{offset:x3}: model 0x{mv:x8}, host 0x{hv:x8}");
        }
        Assert.True(differences.Count == 0, $"{what}: {string.Join("; ", differences)}");
    }

    [Fact]
    public void Reset_irqchips_and_lapics_match_host_byte_for_byte()
    {
        AssertSameChips("KVM_CREATE_IRQCHIP");
        AssertSameLapics("KVM_CREATE_VCPU");
    }

    // count_load_time is the host's ktime at load, so only its presence is compared.
    [Fact]
    public void Reset_pit_matches_host_except_load_times()
    {
        var host = _vm.GetPit2();
        var model = _pit.GetState();
        Assert.Equal(0, host.Channels[0].CountLoadTime);
        Assert.Equal(0, model.Channels[0].CountLoadTime);
        for (int i = 1; i < 3; i++)
        {
            Assert.NotEqual(0, host.Channels[i].CountLoadTime);
            host.Channels[i].CountLoadTime = model.Channels[i].CountLoadTime = 0;
        }
        Assert.Equal(Bytes.Of(host), Bytes.Of(model));
    }

    [Fact]
    public void Set_pit2_restamps_load_times_and_keeps_the_rest_as_host_does()
    {
        var state = _pit.GetState();
        state.Channels[1].Mode = 2;
        state.Channels[1].RwMode = 3;
        state.Channels[1].ReadState = 3;
        state.Channels[1].WriteState = 4;
        state.Channels[1].WriteLatch = 0x12;
        state.Channels[1].Count = 0;
        state.Channels[2].Count = 1234;
        state.Channels[2].CountLatched = 3;
        state.Channels[2].LatchedCount = 999;
        state.Channels[2].StatusLatched = 1;
        state.Channels[2].Status = 0xB4;
        state.Channels[0].Mode = 0xFF;
        state.Flags = KvmConstants.KVM_PIT_FLAGS_SPEAKER_DATA_ON;
        _vm.SetPit2(state);
        _pit.SetState(state);
        var host = _vm.GetPit2();
        var model = _pit.GetState();
        for (int i = 0; i < 3; i++)
            host.Channels[i].CountLoadTime = model.Channels[i].CountLoadTime = 0;
        Assert.Equal(Bytes.Of(host), Bytes.Of(model));
    }

    [Fact]
    public void Old_set_pit_keeps_the_flags_as_host_does()
    {
        var withFlags = _pit.GetState();
        withFlags.Flags = KvmConstants.KVM_PIT_FLAGS_SPEAKER_DATA_ON;
        _vm.SetPit2(withFlags);
        _pit.SetState(withFlags);
        var channels = _pit.GetChannels();
        channels.Channels[2].Mode = 3;
        channels.Channels[2].Count = 0x2000;
        _vm.SetPit(channels);
        _pit.SetChannels(channels);
        var host = _vm.GetPit2();
        var model = _pit.GetState();
        for (int i = 0; i < 3; i++)
            host.Channels[i].CountLoadTime = model.Channels[i].CountLoadTime = 0;
        Assert.Equal(Bytes.Of(host), Bytes.Of(model));
    }

    // In HPET legacy mode channel 0 is left exactly as given, load time included.
    [Fact]
    public void Set_pit2_in_hpet_legacy_mode_leaves_channel_0_alone_as_host_does()
    {
        var state = _pit.GetState();
        state.Flags = KvmConstants.KVM_PIT_FLAGS_HPET_LEGACY;
        state.Channels[0].Count = 0;
        state.Channels[0].Mode = 2;
        state.Channels[0].CountLoadTime = 123_456_789;
        _vm.SetPit2(state);
        _pit.SetState(state);
        var host = _vm.GetPit2();
        var model = _pit.GetState();
        Assert.Equal(123_456_789, host.Channels[0].CountLoadTime);
        for (int i = 1; i < 3; i++)
            host.Channels[i].CountLoadTime = model.Channels[i].CountLoadTime = 0;
        Assert.Equal(Bytes.Of(host), Bytes.Of(model));
    }

    [Fact]
    public void Gsi_0_reaches_ioapic_pin_0_on_host()
    {
        _vm.IrqLine(0, true);
        _router.SetIrq(GsiRouter.UserspaceSourceId, 0, true);
        Assert.Equal(1u, _vm.GetIrqchip(2).Ioapic.Irr);
        AssertSameChips("GSI 0 raised");
    }

    [Fact]
    public void Irq_line_sequences_leave_the_same_chips_and_statuses()
    {
        // Both PICs initialized as Linux does, some pins level-triggered and
        // masked; IOAPIC pins a mix of masked, edge and level, aimed at vCPU 0.
        var master = new KvmPicState { IrqBase = 0x30, Imr = 0x24, Elcr = 0x28, ElcrMask = 0xF8, Init4 = 1 };
        var slave = new KvmPicState { IrqBase = 0x38, Imr = 0x01, Elcr = 0x0C, ElcrMask = 0xDE, Init4 = 1 };
        var ioapic = _ioapic.GetState();
        ioapic.Redirtbl[3].Bits = 0x43;
        ioapic.Redirtbl[5].Bits = (1UL << 15) | 0x45;
        ioapic.Redirtbl[8].Bits = 0x48; // the RTC: edge, coalesced while unacknowledged
        ioapic.Redirtbl[10].Bits = (1UL << 15) | 0x4A;
        ioapic.Redirtbl[11].Bits = 0x4B;
        ioapic.Redirtbl[18].Bits = (1UL << 15) | 0x52;
        // Logical flat destinations over both vCPUs: fixed, and lowest priority.
        ioapic.Redirtbl[12].Bits = (3UL << 56) | (1 << 11) | 0x5C;
        ioapic.Redirtbl[13].Bits = (3UL << 56) | (1 << 11) | (1 << 8) | 0x5D;
        ioapic.Redirtbl[14].Bits = (3UL << 56) | (1 << 11) | (1 << 8) | 0x5E;
        SetBoth(0, master);
        SetBoth(1, slave);
        var chip = new KvmIrqchip { ChipId = 2, Ioapic = ioapic };
        _vm.SetIrqchip(chip);
        _ioapic.SetState(ioapic);
        // Enabled APICs with logical IDs 1 and 2 so that IOAPIC deliveries land.
        foreach (var (vcpu, apic, logical) in new[] { (_vcpu0, _apic0, 1u), (_vcpu1, _apic1, 2u) })
        {
            var page = apic.GetState();
            unsafe
            {
                *(uint*)(page.Regs + R.SpuriousVector) = 0x1FF;
                *(uint*)(page.Regs + R.LogicalDestination) = logical << 24;
            }
            vcpu.SetLapic(page);
            apic.SetState(page);
        }
        AssertSameChips("setup");

        var random = new Random(2024);
        for (int step = 0; step < 200; step++)
        {
            uint gsi = (uint)random.Next(0, 27);
            bool level = random.Next(3) != 0;
            int host = _vm.IrqLineStatus(gsi, level);
            int model = _router.SetIrq(GsiRouter.UserspaceSourceId, gsi, level, lineStatus: true);
            string what = $"step {step}: GSI {gsi} level {level}";
            Assert.True(host == model, $"{what}: host status {host}, model {model}");
            AssertSameChips(what);
            AssertSameLapics(what);
        }
    }

    private void SetBoth(uint chipId, in KvmPicState state)
    {
        _vm.SetIrqchip(new KvmIrqchip { ChipId = chipId, Pic = state });
        _pic.SetState((int)chipId, state);
    }

    [Fact]
    public void Set_lapic_reimposes_the_version_and_recomputes_ppr_as_host_does()
    {
        var page = _apic1.GetState();
        unsafe
        {
            *(uint*)(page.Regs + R.Version) = 0x12345678;
            *(uint*)(page.Regs + R.SpuriousVector) = 0x1FF;
            *(uint*)(page.Regs + R.TaskPriority) = 0x31;
            *(uint*)(page.Regs + R.ProcessorPriority) = 0xEE;
            *(uint*)(page.Regs + R.Isr + 0x20) = 1u << 3; // vector 0x43 in service
            *(uint*)(page.Regs + R.Irr + 0x60) = 1u << 1; // vector 0xC1 requested
            *(uint*)(page.Regs + R.Tmr + 0x20) = 1u << 3;
            *(uint*)(page.Regs + R.LogicalDestination) = 0x0400_0000;
            *(uint*)(page.Regs + R.LvtLint1) = 0x400;
            *(uint*)(page.Regs + R.TimerDivide) = 0x3;
        }
        _vcpu1.SetLapic(page);
        _apic1.SetState(page);
        // KVM computes PPR at KVM_SET_LAPIC before it recounts the new ISR, so
        // without APICv (as on this machine's kvm_pvm) it reports the TPR alone
        // until the next event; with APICv it counts the ISR. The model always
        // counts the ISR, the architectural value.
        var host = _vcpu1.GetLapic();
        uint hostPpr;
        unsafe
        {
            hostPpr = *(uint*)(host.Regs + R.ProcessorPriority);
            *(uint*)(host.Regs + R.ProcessorPriority) = 0x40;
        }
        Assert.Contains(hostPpr, new uint[] { 0x31, 0x40 });
        Assert.Equal(0x40u, _apic1.ReadRegister(R.ProcessorPriority));
        AssertSamePage(_apic1.GetState(), host, "LAPIC 1 after KVM_SET_LAPIC");
    }

    // KVM_SET_LAPIC restarts the timer from the page's current count, not from
    // the initial count; the host's clock moves while we look, the fake one not.
    [Theory]
    [InlineData(0u)]
    [InlineData(1u << 17)]
    public void Set_lapic_resumes_the_timer_from_its_current_count(uint timerMode)
    {
        var page = _apic1.GetState();
        unsafe
        {
            *(uint*)(page.Regs + R.SpuriousVector) = 0x1FF;
            *(uint*)(page.Regs + R.LvtTimer) = 0x10000 | timerMode | 0xEC;
            *(uint*)(page.Regs + R.TimerDivide) = 0xB;
            *(uint*)(page.Regs + R.TimerInitialCount) = 1_000_000_000;
            *(uint*)(page.Regs + R.TimerCurrentCount) = 400_000_000;
        }
        _vcpu1.SetLapic(page);
        _apic1.SetState(page);
        var host = _vcpu1.GetLapic();
        uint hostCount;
        unsafe
        {
            hostCount = *(uint*)(host.Regs + R.TimerCurrentCount);
            *(uint*)(host.Regs + R.TimerCurrentCount) = 400_000_000;
        }
        Assert.InRange(hostCount, 300_000_000u, 400_000_000u);
        Assert.Equal(400_000_000u, _apic1.ReadRegister(R.TimerCurrentCount));
        AssertSamePage(_apic1.GetState(), host, "LAPIC 1 after KVM_SET_LAPIC with a running timer");
    }

    // KVM_SET_IRQCHIP re-asserts each pin in the IRR it is given: unmasked
    // edge pins deliver (and drop out of the reported IRR), level pins take
    // remote IRR, masked pins keep their request.
    [Fact]
    public void Set_irqchip_reasserts_the_given_ioapic_irr_as_host_does()
    {
        var page = _apic0.GetState();
        unsafe
        {
            *(uint*)(page.Regs + R.SpuriousVector) = 0x1FF;
        }
        _vcpu0.SetLapic(page);
        _apic0.SetState(page);
        var ioapic = _ioapic.GetState();
        ioapic.Redirtbl[1].Bits = 0x51;
        ioapic.Redirtbl[2].Bits = (1UL << 15) | 0x52;
        ioapic.Redirtbl[3].Bits = (1UL << 16) | 0x53;
        ioapic.Redirtbl[4].Bits = (1UL << 15) | (1UL << 14) | 0x54;
        ioapic.Irr = 0b11110;
        ioapic.Id = 0x3;
        ioapic.Ioregsel = 0x17;
        _vm.SetIrqchip(new KvmIrqchip { ChipId = 2, Ioapic = ioapic });
        _ioapic.SetState(ioapic);
        AssertSameChips("KVM_SET_IRQCHIP of the IOAPIC");
        AssertSamePage(_apic0.GetState(), _vcpu0.GetLapic(), "LAPIC 0 after KVM_SET_IRQCHIP");
    }

    [Fact]
    public void Custom_gsi_routing_delivers_and_refuses_as_host_does()
    {
        var page = _apic0.GetState();
        unsafe
        {
            *(uint*)(page.Regs + R.SpuriousVector) = 0x1FF;
        }
        _vcpu0.SetLapic(page);
        _apic0.SetState(page);
        var ioapic = _ioapic.GetState();
        ioapic.Redirtbl[7].Bits = 0x47;
        ioapic.Redirtbl[9].Bits = (1UL << 15) | 0x49;
        _vm.SetIrqchip(new KvmIrqchip { ChipId = 2, Ioapic = ioapic });
        _ioapic.SetState(ioapic);
        KvmIrqRoutingEntry[] table =
        [
            GsiRouter.MsiEntry(30, 0xFEE0_0000, 0x61),
            GsiRouter.MsiEntry(32, 0xFEE0_5000, 0x62), // nobody has APIC ID 5
            GsiRouter.IrqchipEntry(31, KvmConstants.KVM_IRQCHIP_IOAPIC, 7),
            GsiRouter.IrqchipEntry(31, KvmConstants.KVM_IRQCHIP_PIC_SLAVE, 3),
            GsiRouter.IrqchipEntry(5, KvmConstants.KVM_IRQCHIP_IOAPIC, 9),
        ];
        _vm.SetGsiRouting(table);
        _router.SetRouting(table);
        foreach (var (gsi, level) in new (uint, bool)[] { (30, true), (30, false), (30, true), (32, true), (31, true), (31, false), (31, true), (5, true), (5, true), (5, false), (4, true), (0, true) })
        {
            int host = _vm.IrqLineStatus(gsi, level);
            int model = _router.SetIrq(GsiRouter.UserspaceSourceId, gsi, level, lineStatus: true);
            Assert.True(host == model, $"GSI {gsi} level {level}: host status {host}, model {model}");
            AssertSameChips($"GSI {gsi} level {level}");
            AssertSamePage(_apic0.GetState(), _vcpu0.GetLapic(), $"LAPIC 0 after GSI {gsi} level {level}");
        }

        KvmIrqRoutingEntry[][] refused =
        [
            [GsiRouter.IrqchipEntry(1, KvmConstants.KVM_IRQCHIP_PIC_MASTER, 8)],
            [GsiRouter.IrqchipEntry(1, KvmConstants.KVM_IRQCHIP_IOAPIC, 24)],
            [GsiRouter.IrqchipEntry(1, 3, 0)],
            [GsiRouter.IrqchipEntry(1, KvmConstants.KVM_IRQCHIP_IOAPIC, 1), GsiRouter.IrqchipEntry(1, KvmConstants.KVM_IRQCHIP_IOAPIC, 2)],
            [GsiRouter.MsiEntry(1, 0xFEE00000, 0x30), GsiRouter.IrqchipEntry(1, KvmConstants.KVM_IRQCHIP_IOAPIC, 2)],
            [new KvmIrqRoutingEntry { Gsi = 1, Type = 99 }],
        ];
        foreach (var entries in refused)
        {
            var host = Assert.Throws<KvmException>(() => _vm.SetGsiRouting(entries));
            var model = Assert.Throws<KvmException>(() => _router.SetRouting(entries));
            Assert.Equal(host.Errno, model.Errno);
        }
    }

    // With x2APIC in the vCPU's CPUID, the host sets IA32_APIC_BASE's x2APIC
    // bit; KVM_GET_LAPIC then shows the ID shifted into the xAPIC position and
    // the LDR derived from it, the same on both.
    [Fact]
    public void X2apic_mode_page_matches_host()
    {
        var cpuid = _kvm.GetSupportedCpuid();
        if (!cpuid.Any(e => e.Function == 1 && (e.Ecx & (1u << 21)) != 0))
            Assert.Skip("This host's KVM does not offer x2APIC.");
        _vcpu1.SetCpuid2(cpuid);
        const ulong x2ApicBase = 0xFEE0_0000 | LocalApic.BaseMsrEnable | LocalApic.BaseMsrX2Apic;
        Assert.Equal(1, _vcpu1.SetMsrs([new KvmMsrEntry { Index = LocalApic.BaseMsrIndex, Data = x2ApicBase }]));
        Assert.True(_apic1.TryWriteBaseMsr(x2ApicBase, x2ApicSupported: true));
        AssertSameLapics("entering x2APIC mode");

        var page = _vcpu1.GetLapic();
        unsafe
        {
            *(uint*)(page.Regs + R.SpuriousVector) = 0x1FF;
            *(uint*)(page.Regs + R.LogicalDestination) = 0x1234;
        }
        _vcpu1.SetLapic(page);
        _apic1.SetState(page);
        AssertSameLapics("KVM_SET_LAPIC in x2APIC mode");
    }
}
