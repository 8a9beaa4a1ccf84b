using System.Buffers.Binary;
using KvmSharp.Abi;

namespace KvmSharp.Soft.Platform;

/// <summary>
/// The 82093AA-style I/O APIC with 24 pins as Linux KVM models it on x86:
/// IOREGSEL at base+0x00, IOWIN at base+0x10, version 0x11 (so no EOI
/// register), a redirection table whose level-triggered entries hold remote IRR
/// until the local APIC's EOI, and re-delivery of a still-asserted level pin
/// after that EOI. State converts to and from <see cref="KvmIoapicState"/>
/// (KVM_GET/SET_IRQCHIP chip 2) as KVM's does.
/// </summary>
/// <remarks>
/// As in KVM, the pin level passed in is the logical level (polarity is left to
/// whoever drives the pin), and a raise of the RTC's pin 8 that asks for line
/// status (KVM_IRQ_LINE_STATUS) is coalesced - reported 0 and not delivered -
/// while an earlier RTC interrupt awaits EOI. Not modelled: the interrupt storm
/// guard that defers re-delivery after many successive EOIs, and rebuilding the
/// RTC's EOI tracking from the APICs after KVM_SET_IRQCHIP/KVM_SET_LAPIC.
/// </remarks>
public sealed class Ioapic : IEoiListener
{
    public const int PinCount = KvmConstants.KVM_IOAPIC_NUM_PINS;
    public const ulong DefaultBaseAddress = 0xFEC00000;
    public const uint VersionValue = 0x11;

    public const int RegisterSelect = 0x00;
    public const int RegisterWindow = 0x10;

    private const int IndexId = 0x00;
    private const int IndexVersion = 0x01;
    private const int IndexArbitration = 0x02;
    private const int IndexRedirectionTable = 0x10;
    private const int RtcPin = 8;

    private const ulong Masked = 1UL << 16;
    private const ulong LevelTriggered = 1UL << 15;
    private const ulong RemoteIrr = 1UL << 14;
    private const ulong DeliveryStatus = 1UL << 12;

    private readonly object _lock = new();
    private readonly ulong[] _redirection = new ulong[PinCount];
    private readonly ApicBus _bus;
    private ulong _baseAddress;
    private uint _registerSelect;
    private uint _id;
    private uint _irr;
    private uint _pad;
    // Edge pins already delivered for the current assertion: KVM hides them
    // from the IRR it reports.
    private uint _irrDelivered;
    // The APICs (and the vector each got) still owing an EOI for the RTC.
    private readonly List<(LocalApic Apic, byte Vector)> _rtcAwaitingEoi = [];
    private readonly List<LocalApic> _scratchTargets = [];

    public Ioapic(ApicBus bus)
    {
        _bus = bus;
        Reset();
    }

    /// <summary>Raised, outside the lock, with the pin whose interrupt a local APIC ended (KVM's ack notifiers).</summary>
    public event Action<int>? InterruptAcknowledged;

    public ulong BaseAddress
    {
        get { lock (_lock) return _baseAddress; }
    }

    /// <summary>KVM's reset: every pin masked, base 0xFEC00000, ID 0.</summary>
    public void Reset()
    {
        lock (_lock)
        {
            Array.Fill(_redirection, Masked);
            _baseAddress = DefaultBaseAddress;
            _registerSelect = 0;
            _id = 0;
            _irr = 0;
            _pad = 0;
            _irrDelivered = 0;
            _rtcAwaitingEoi.Clear();
        }
    }

    /// <summary>
    /// Drives <paramref name="pin"/> to <paramref name="level"/>. Returns as
    /// KVM does: &gt;0 delivered to that many APICs, 0 not delivered (edge
    /// already pending, or no APIC accepted), -1 masked or awaiting EOI.
    /// De-asserting returns 1. <paramref name="lineStatus"/> says the caller
    /// wants delivery status (KVM_IRQ_LINE_STATUS), which enables RTC coalescing.
    /// </summary>
    public int SetIrq(int pin, bool level, bool lineStatus = false)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(pin);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(pin, PinCount);
        lock (_lock)
        {
            uint mask = 1u << pin;
            if (!level)
            {
                _irr &= ~mask;
                return 1;
            }
            // A coalesced RTC raise leaves no trace, not even in IRR.
            if (pin == RtcPin && lineStatus && _rtcAwaitingEoi.Count > 0)
                return 0;
            uint oldIrr = _irr;
            _irr |= mask;
            if ((_redirection[pin] & LevelTriggered) == 0)
            {
                _irrDelivered &= ~mask;
                if (oldIrr == _irr)
                    return 0;
            }
            return Service(pin, lineStatus);
        }
    }

    public uint ReadMmio(uint offset)
    {
        lock (_lock)
        {
            return (offset & 0xFF) switch
            {
                RegisterSelect => _registerSelect,
                RegisterWindow => ReadIndirect(),
                _ => 0,
            };
        }
    }

    /// <summary>A 32-bit write at <paramref name="offset"/> from the base.</summary>
    public void WriteMmio(uint offset, uint value)
    {
        switch (offset & 0xFF)
        {
            case RegisterSelect:
                lock (_lock)
                    _registerSelect = value & 0xFF;
                break;
            case RegisterWindow:
                lock (_lock)
                    WriteIndirect(value);
                break;
        }
    }

    /// <summary>An MMIO access of 1-8 bytes as the bus hands it over; KVM serves 4- and 8-byte accesses and drops others.</summary>
    public void ReadMmio(uint offset, Span<byte> data)
    {
        data.Clear();
        if (data.Length is not (4 or 8))
            return;
        uint value = ReadMmio(offset);
        BinaryPrimitives.WriteUInt32LittleEndian(data, value);
    }

    public void WriteMmio(uint offset, ReadOnlySpan<byte> data)
    {
        if (data.Length is not (4 or 8))
            return;
        WriteMmio(offset, BinaryPrimitives.ReadUInt32LittleEndian(data));
    }

    /// <summary>
    /// A local APIC ended <paramref name="vector"/>: every pin with that vector
    /// is acknowledged; a level pin drops remote IRR and, if its line is still
    /// asserted and unmasked, is delivered again.
    /// </summary>
    public void OnEoi(LocalApic source, byte vector, bool levelTriggered)
    {
        int acked = 0;
        lock (_lock)
        {
            for (int pin = 0; pin < PinCount; pin++)
            {
                ulong entry = _redirection[pin];
                if ((byte)entry != vector)
                    continue;
                acked |= 1 << pin;
                if (pin == RtcPin)
                    _rtcAwaitingEoi.Remove((source, vector));
                if (!levelTriggered || (entry & LevelTriggered) == 0)
                    continue;
                _redirection[pin] = entry & ~RemoteIrr;
                if ((entry & Masked) == 0 && (_irr & (1u << pin)) != 0)
                    Service(pin, lineStatus: false);
            }
        }
        if (InterruptAcknowledged is { } handler)
            for (int pin = 0; pin < PinCount; pin++)
                if ((acked & (1 << pin)) != 0)
                    handler(pin);
    }

    /// <summary>KVM_GET_IRQCHIP chip 2: edge pins already delivered do not show in IRR.</summary>
    public KvmIoapicState GetState()
    {
        lock (_lock)
        {
            var state = new KvmIoapicState
            {
                BaseAddress = _baseAddress,
                Ioregsel = _registerSelect,
                Id = _id,
                Irr = _irr & ~_irrDelivered,
                Pad = _pad,
            };
            for (int pin = 0; pin < PinCount; pin++)
                state.Redirtbl[pin].Bits = _redirection[pin];
            return state;
        }
    }

    /// <summary>KVM_SET_IRQCHIP chip 2: the table is copied, then each pin in the given IRR is asserted anew.</summary>
    public void SetState(in KvmIoapicState state)
    {
        lock (_lock)
        {
            _baseAddress = state.BaseAddress;
            _registerSelect = state.Ioregsel;
            _id = state.Id;
            _pad = state.Pad;
            for (int pin = 0; pin < PinCount; pin++)
                _redirection[pin] = state.Redirtbl[pin].Bits;
            _irr = 0;
            _irrDelivered = 0;
            _rtcAwaitingEoi.Clear();
        }
        for (int pin = 0; pin < PinCount; pin++)
            if ((state.Irr & (1u << pin)) != 0)
                SetIrq(pin, true, lineStatus: true);
    }

    private uint ReadIndirect()
    {
        switch (_registerSelect)
        {
            case IndexVersion:
                return ((uint)(PinCount - 1) << 16) | VersionValue;
            case IndexId or IndexArbitration:
                return (_id & 0xF) << 24;
            default:
                {
                    uint index = (_registerSelect - IndexRedirectionTable) >> 1;
                    ulong entry = index < PinCount ? _redirection[index] : ulong.MaxValue;
                    return (_registerSelect & 1) != 0 ? (uint)(entry >> 32) : (uint)entry;
                }
        }
    }

    private void WriteIndirect(uint value)
    {
        switch (_registerSelect)
        {
            case IndexVersion or IndexArbitration:
                return;
            case IndexId:
                _id = (value >> 24) & 0xF;
                return;
        }
        uint index = (_registerSelect - IndexRedirectionTable) >> 1;
        if (index >= PinCount)
            return;
        ulong old = _redirection[index];
        ulong entry = (_registerSelect & 1) != 0
            ? (old & 0xFFFF_FFFF) | ((ulong)value << 32)
            : (old & 0xFFFF_FFFF_0000_0000) | value;
        // Remote IRR and delivery status are read-only; an edge entry never
        // holds remote IRR (Linux and Xen rely on the IOAPIC clearing it).
        entry = (entry & ~(RemoteIrr | DeliveryStatus)) | (old & (RemoteIrr | DeliveryStatus));
        if ((entry & LevelTriggered) == 0)
            entry &= ~RemoteIrr;
        _redirection[index] = entry;
        if ((entry & LevelTriggered) != 0 && (_irr & (1u << (int)index)) != 0 && (entry & (Masked | RemoteIrr)) == 0)
            Service((int)index, lineStatus: false);
    }

    // Sends the pin's message to the local APICs; the lock is held, which is
    // safe because local APICs never call the IOAPIC with their own lock held.
    private int Service(int pin, bool lineStatus)
    {
        ulong entry = _redirection[pin];
        bool level = (entry & LevelTriggered) != 0;
        if ((entry & Masked) != 0 || (level && (entry & RemoteIrr) != 0))
            return -1;
        if (!level)
            _irrDelivered |= 1u << pin;
        var message = new ApicInterrupt(
            Vector: (byte)entry,
            DeliveryMode: (ApicDeliveryMode)((entry >> 8) & 7),
            Destination: (uint)(entry >> 56),
            LogicalDestination: (entry & (1UL << 11)) != 0,
            LevelTriggered: level);
        int result;
        if (pin == RtcPin && lineStatus)
        {
            _scratchTargets.Clear();
            result = _bus.Deliver(message, accepted: _scratchTargets);
            foreach (var apic in _scratchTargets)
                _rtcAwaitingEoi.Add((apic, message.Vector));
        }
        else
        {
            result = _bus.Deliver(message);
        }
        if (result > 0 && level)
            _redirection[pin] = entry | RemoteIrr;
        return result;
    }
}
