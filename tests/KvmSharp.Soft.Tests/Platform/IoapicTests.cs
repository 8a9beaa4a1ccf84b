using KvmSharp.Abi;
using KvmSharp.Soft.Platform;
using R = KvmSharp.Soft.Platform.ApicRegisters;

namespace KvmSharp.Soft.Tests.Platform;

public class IoapicTests
{
    private const ulong Level = 1UL << 15;
    private const ulong Masked = 1UL << 16;
    private const ulong RemoteIrr = 1UL << 14;

    private readonly ApicBus _bus = new();
    private readonly Ioapic _ioapic;
    private readonly LocalApic _apic0;
    private readonly LocalApic _apic1;

    public IoapicTests()
    {
        _ioapic = new Ioapic(_bus);
        var clock = new ManualClock();
        _apic0 = new LocalApic(0, clock, new RecordingVcpu(), _bus, bootstrapProcessor: true) { EoiListener = _ioapic };
        _apic1 = new LocalApic(1, clock, new RecordingVcpu(), _bus) { EoiListener = _ioapic };
        _apic0.WriteRegister(R.SpuriousVector, 0x1FF);
        _apic1.WriteRegister(R.SpuriousVector, 0x1FF);
    }

    private void Program(int pin, ulong entry)
    {
        _ioapic.WriteMmio(Ioapic.RegisterSelect, (uint)(0x10 + pin * 2));
        _ioapic.WriteMmio(Ioapic.RegisterWindow, (uint)entry);
        _ioapic.WriteMmio(Ioapic.RegisterSelect, (uint)(0x11 + pin * 2));
        _ioapic.WriteMmio(Ioapic.RegisterWindow, (uint)(entry >> 32));
    }

    private ulong Entry(int pin) => _ioapic.GetState().Redirtbl[pin].Bits;

    private static void Serve(LocalApic apic, byte expected)
    {
        Assert.True(apic.TryAcknowledge(out byte vector));
        Assert.Equal(expected, vector);
        apic.WriteRegister(R.Eoi, 0);
    }

    [Fact]
    public void Reset_masks_every_pin_at_the_default_base()
    {
        var state = _ioapic.GetState();
        Assert.Equal(0xFEC00000ul, state.BaseAddress);
        Assert.Equal(0u, state.Irr);
        for (int pin = 0; pin < Ioapic.PinCount; pin++)
            Assert.Equal(Masked, state.Redirtbl[pin].Bits);
    }

    [Fact]
    public void Version_and_id_registers_read_through_the_window()
    {
        _ioapic.WriteMmio(Ioapic.RegisterSelect, 1);
        Assert.Equal(0x0017_0011u, _ioapic.ReadMmio(Ioapic.RegisterWindow));
        _ioapic.WriteMmio(Ioapic.RegisterSelect, 0);
        _ioapic.WriteMmio(Ioapic.RegisterWindow, 0xFF00_0000);
        Assert.Equal(0x0F00_0000u, _ioapic.ReadMmio(Ioapic.RegisterWindow));
        _ioapic.WriteMmio(Ioapic.RegisterSelect, 0x1_23);
        Assert.Equal(0x23u, _ioapic.ReadMmio(Ioapic.RegisterSelect));
        // Past the table the window reads all ones.
        _ioapic.WriteMmio(Ioapic.RegisterSelect, 0x40);
        Assert.Equal(0xFFFF_FFFFu, _ioapic.ReadMmio(Ioapic.RegisterWindow));
    }

    [Fact]
    public void Redirection_entries_read_back_in_halves_without_writable_status_bits()
    {
        Program(5, 0x0300_0000_0000_0000 | Masked | Level | RemoteIrr | (1 << 12) | 0x0935);
        Assert.Equal(0x0300_0000_0000_0000 | Masked | Level | 0x0935, Entry(5));
        _ioapic.WriteMmio(Ioapic.RegisterSelect, 0x10 + 10 + 1);
        Assert.Equal(0x0300_0000u, _ioapic.ReadMmio(Ioapic.RegisterWindow));
    }

    [Fact]
    public void Edge_pin_delivers_on_each_rising_edge_to_its_destination()
    {
        Program(4, (1UL << 56) | 0x34);
        Assert.Equal(1, _ioapic.SetIrq(4, true));
        Assert.False(_apic0.HasInterrupt);
        Serve(_apic1, 0x34);
        // Held high: no new edge.
        Assert.Equal(0, _ioapic.SetIrq(4, true));
        Assert.False(_apic1.HasInterrupt);
        _ioapic.SetIrq(4, false);
        Assert.Equal(1, _ioapic.SetIrq(4, true));
        Serve(_apic1, 0x34);
        // A delivered edge does not show in the IRR KVM reports.
        Assert.Equal(0u, _ioapic.GetState().Irr);
    }

    [Fact]
    public void Level_pin_holds_remote_irr_until_eoi_and_redelivers_while_asserted()
    {
        var acked = new List<int>();
        _ioapic.InterruptAcknowledged += acked.Add;
        Program(9, Level | 0x49);
        Assert.Equal(1, _ioapic.SetIrq(9, true));
        Assert.NotEqual(0ul, Entry(9) & RemoteIrr);
        Assert.Equal(1u << 9, _ioapic.GetState().Irr);
        Assert.Equal(-1, _ioapic.SetIrq(9, true));
        Serve(_apic0, 0x49);
        // Still asserted at EOI: delivered again.
        Assert.NotEqual(0ul, Entry(9) & RemoteIrr);
        _ioapic.SetIrq(9, false);
        Serve(_apic0, 0x49);
        Assert.Equal(0ul, Entry(9) & RemoteIrr);
        Assert.False(_apic0.HasInterrupt);
        Assert.Equal([9, 9], acked);
    }

    [Fact]
    public void Masked_pin_keeps_its_request_and_delivers_when_a_level_entry_is_unmasked()
    {
        Program(3, Masked | Level | 0x43);
        Assert.Equal(-1, _ioapic.SetIrq(3, true));
        Assert.Equal(1u << 3, _ioapic.GetState().Irr);
        Program(3, Level | 0x43);
        Serve(_apic0, 0x43);
    }

    [Fact]
    public void Logical_destination_reaches_the_apics_in_the_mask()
    {
        _apic0.WriteRegister(R.LogicalDestination, 1u << 24);
        _apic1.WriteRegister(R.LogicalDestination, 2u << 24);
        Program(7, (3UL << 56) | (1 << 11) | 0x57);
        Assert.Equal(2, _ioapic.SetIrq(7, true));
        Serve(_apic0, 0x57);
        Serve(_apic1, 0x57);
    }

    [Fact]
    public void Nmi_delivery_mode_reaches_the_vcpu()
    {
        var vcpu = new RecordingVcpu();
        var bus = new ApicBus();
        var ioapic = new Ioapic(bus);
        _ = new LocalApic(0, new ManualClock(), vcpu, bus);
        ioapic.WriteMmio(Ioapic.RegisterSelect, 0x10 + 2);
        ioapic.WriteMmio(Ioapic.RegisterWindow, 0x400);
        ioapic.SetIrq(1, true);
        Assert.Equal(1, vcpu.Nmis);
    }

    [Fact]
    public void Rtc_raises_asking_for_status_are_coalesced_until_the_eoi()
    {
        Program(8, 0x38);
        Assert.Equal(1, _ioapic.SetIrq(8, true, lineStatus: true));
        _ioapic.SetIrq(8, false);
        Assert.Equal(0, _ioapic.SetIrq(8, true, lineStatus: true));
        Assert.Equal(0u, _ioapic.GetState().Irr);
        _ioapic.SetIrq(8, false);
        // KVM_IRQ_LINE (no status) is never coalesced.
        Assert.Equal(1, _ioapic.SetIrq(8, true));
        _ioapic.SetIrq(8, false);
        Serve(_apic0, 0x38);
        Assert.Equal(1, _ioapic.SetIrq(8, true, lineStatus: true));
    }

    [Fact]
    public void State_round_trips_byte_for_byte()
    {
        Program(1, Masked | 0x31);
        Program(2, Level | 0x32);
        Program(20, (1UL << 56) | Masked | Level | 0x0A44);
        _ioapic.SetIrq(1, true);
        _ioapic.SetIrq(2, true);
        _ioapic.SetIrq(20, true);
        _ioapic.WriteMmio(Ioapic.RegisterSelect, 0x14);
        var state = _ioapic.GetState();
        Assert.NotEqual(0ul, state.Redirtbl[2].Bits & RemoteIrr);

        var copy = new Ioapic(new ApicBus());
        copy.SetState(state);
        Assert.Equal(Bytes.Of(state), Bytes.Of(copy.GetState()));
    }

    [Fact]
    public void Pins_out_of_range_are_refused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => _ioapic.SetIrq(24, true));
    }
}
