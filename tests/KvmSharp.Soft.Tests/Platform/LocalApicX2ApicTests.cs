using KvmSharp.Soft.Platform;
using R = KvmSharp.Soft.Platform.ApicRegisters;

namespace KvmSharp.Soft.Tests.Platform;

public class LocalApicX2ApicTests
{
    private const ulong Enabled = 0xFEE0_0000 | LocalApic.BaseMsrEnable;
    private const ulong X2Apic = Enabled | LocalApic.BaseMsrX2Apic;

    private readonly ApicBus _bus = new();
    private readonly ManualClock _clock = new();

    private (LocalApic Apic, RecordingVcpu Vcpu) Create(uint id, bool x2Apic = true)
    {
        var vcpu = new RecordingVcpu();
        var apic = new LocalApic(id, _clock, vcpu, _bus);
        if (x2Apic)
            Assert.True(apic.TryWriteBaseMsr(X2Apic, x2ApicSupported: true));
        Assert.True(apic.TryWriteMsr(0x80F, 0x1FF) || !x2Apic);
        if (!x2Apic)
            apic.WriteRegister(R.SpuriousVector, 0x1FF);
        return (apic, vcpu);
    }

    private static ulong Msr(LocalApic apic, uint msr)
    {
        Assert.True(apic.TryReadMsr(msr, out ulong value), $"RDMSR 0x{msr:x}");
        return value;
    }

    [Fact]
    public void Entering_x2apic_mode_derives_id_and_ldr_from_the_vcpu_id()
    {
        var (apic, _) = Create(0x23);
        Assert.True(apic.X2ApicMode);
        Assert.Equal(0x23u, apic.ApicId);
        Assert.False(apic.DecodesMmio);
        Assert.Equal(0x23ul, Msr(apic, 0x802));
        Assert.Equal((2ul << 16) | (1 << 3), Msr(apic, 0x80D));
        Assert.Equal((ulong)LocalApic.Version, Msr(apic, 0x803));
    }

    [Fact]
    public void Base_msr_transitions_follow_the_sdm()
    {
        var (apic, _) = Create(1, x2Apic: false);
        Assert.False(apic.TryWriteBaseMsr(X2Apic, x2ApicSupported: false));
        Assert.False(apic.TryWriteBaseMsr(0xFEE0_0000 | LocalApic.BaseMsrX2Apic, x2ApicSupported: true));
        Assert.False(apic.TryWriteBaseMsr(Enabled | 1, x2ApicSupported: true));
        Assert.True(apic.TryWriteBaseMsr(X2Apic, x2ApicSupported: true));
        Assert.False(apic.TryWriteBaseMsr(Enabled, x2ApicSupported: true));
        Assert.True(apic.TryWriteBaseMsr(0xFEE0_0000, x2ApicSupported: true));
        Assert.False(apic.TryWriteBaseMsr(X2Apic, x2ApicSupported: true));
        Assert.True(apic.TryWriteBaseMsr(Enabled, x2ApicSupported: true));
        Assert.Equal(1u << 24, apic.ReadRegister(R.Id));
    }

    [Fact]
    public void Msrs_fault_outside_x2apic_mode_and_on_xapic_only_registers()
    {
        var (xapic, _) = Create(0, x2Apic: false);
        Assert.False(xapic.TryReadMsr(0x802, out _));
        var (apic, _) = Create(1);
        Assert.False(apic.TryReadMsr(0x80E, out _)); // DFR
        Assert.False(apic.TryReadMsr(0x831, out _)); // ICR2
        Assert.False(apic.TryReadMsr(0x80B, out _)); // EOI is write-only
        Assert.False(apic.TryWriteMsr(0x802, 5)); // ID is read-only
        Assert.False(apic.TryWriteMsr(0x80D, 5)); // so is LDR
        Assert.False(apic.TryWriteMsr(0x808, 1ul << 32));
        Assert.False(apic.TryWriteMsr(0x828, 1)); // ESR takes only 0
        Assert.True(apic.TryWriteMsr(0x828, 0));
    }

    [Fact]
    public void Icr_is_one_64_bit_msr_with_a_32_bit_destination()
    {
        var (a, _) = Create(0);
        var (b, _) = Create(0x105);
        Assert.True(a.TryWriteMsr(0x830, (0x105ul << 32) | 0x4000 | 0x61));
        Assert.Equal((0x105ul << 32) | 0x4061, Msr(a, 0x830));
        Assert.True(b.TryAcknowledge(out byte vector));
        Assert.Equal(0x61, vector);
        Assert.True(b.TryWriteMsr(0x80B, 0));
        // Logical: cluster 0x10, member bit 5.
        Assert.True(a.TryWriteMsr(0x830, (((0x10ul << 16) | (1 << 5)) << 32) | 0x4800 | 0x62));
        Assert.True(b.TryAcknowledge(out vector));
        Assert.Equal(0x62, vector);
    }

    [Fact]
    public void Self_ipi_msr_and_device_broadcast_reach_x2apics()
    {
        var (a, _) = Create(0);
        var (b, _) = Create(1);
        Assert.True(a.TryWriteMsr(0x83F, 0x70));
        Assert.True(a.TryAcknowledge(out byte vector));
        Assert.Equal(0x70, vector);
        Assert.False(b.HasInterrupt);
        // An IOAPIC or MSI message to 0xFF is a broadcast for x2APICs too.
        Assert.Equal(2, _bus.Deliver(new ApicInterrupt(0x71, ApicDeliveryMode.Fixed, 0xFF)));
    }

    [Fact]
    public void State_shows_the_id_in_the_xapic_position_and_init_keeps_it()
    {
        var (apic, _) = Create(3);
        var state = apic.GetState();
        unsafe
        {
            Assert.Equal(3u << 24, *(uint*)(state.Regs + R.Id));
        }
        var (copy, _) = Create(3);
        copy.SetState(state);
        Assert.Equal(Bytes.Of(state), Bytes.Of(copy.GetState()));
        Assert.Equal(3ul, Msr(copy, 0x802));
        copy.Reset(initSignal: true);
        Assert.True(copy.X2ApicMode);
        Assert.Equal(3ul, Msr(copy, 0x802));
        Assert.Equal(1ul << 3, Msr(copy, 0x80D));
    }
}
