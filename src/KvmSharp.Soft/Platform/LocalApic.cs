using System.Buffers.Binary;
using KvmSharp.Abi;

namespace KvmSharp.Soft.Platform;

/// <summary>
/// One vCPU's local APIC (xAPIC, and x2APIC when the CPU offers it), modelled
/// on Linux KVM's: the 1 KiB
/// register page is the state (exactly KVM_GET/SET_LAPIC's bytes), interrupts
/// are accepted into IRR/TMR, handed to the CPU through
/// <see cref="IInterruptSource"/> by priority against PPR, ended by EOI (which
/// is broadcast to the IOAPIC), and sent to others through the ICR on the
/// <see cref="ApicBus"/>. The timer runs in one-shot, periodic and TSC-deadline
/// modes against an <see cref="IPlatformClock"/>; KVM's APIC bus runs at 1 GHz.
/// </summary>
public sealed partial class LocalApic : IInterruptSource, ITimedDevice
{
    public const ulong DefaultBaseAddress = 0xFEE00000;
    public const ulong BaseMsrBsp = 1 << 8;
    public const ulong BaseMsrX2Apic = 1 << 10;
    public const ulong BaseMsrEnable = 1 << 11;

    // Version 0x14 (integrated APIC) with six LVT entries, as KVM reports it
    // without CMCI.
    public const uint Version = 0x0005_0014;

    private const uint LvtMasked = 1 << 16;
    private const uint LvtSendPending = 1 << 12;
    private const uint LvtLevelTriggered = 1 << 15;
    private const uint LvtMask = LvtMasked | LvtSendPending | 0xFF;
    private const uint LintMask = LvtMask | 0x700 | (1 << 13) | (1 << 14) | LvtLevelTriggered;
    private const uint TimerModeMask = 3 << 17;
    private const uint TimerPeriodic = 1 << 17;
    private const uint TimerTscDeadline = 2 << 17;
    private const uint SpivEnabled = 1 << 8;
    private const long MinimumPeriodNanoseconds = 200_000;

    private static readonly (int Register, uint Mask)[] s_lvts =
    [
        (ApicRegisters.LvtTimer, LvtMask),
        (ApicRegisters.LvtThermal, LvtMask | 0x700),
        (ApicRegisters.LvtPerformance, LvtMask | 0x700),
        (ApicRegisters.LvtLint0, LintMask),
        (ApicRegisters.LvtLint1, LintMask),
        (ApicRegisters.LvtError, LvtMask),
    ];

    private readonly object _lock = new();
    private readonly byte[] _page = new byte[KvmConstants.KVM_APIC_REG_SIZE];
    private readonly IPlatformClock _clock;
    private readonly IVcpuSink _sink;
    private readonly ApicBus? _bus;
    private ulong _baseMsr;

    private int _divideCount = 2;
    private long _period;
    private long _targetExpiration = long.MaxValue;
    private ulong _tscDeadline;

    public LocalApic(uint vcpuId, IPlatformClock clock, IVcpuSink sink, ApicBus? bus = null, bool bootstrapProcessor = false)
    {
        VcpuId = vcpuId;
        _clock = clock;
        _sink = sink;
        _bus = bus;
        IsBootstrapProcessor = bootstrapProcessor;
        _baseMsr = DefaultBaseAddress | BaseMsrEnable | (bootstrapProcessor ? BaseMsrBsp : 0);
        Reset();
        bus?.Add(this);
    }

    public uint VcpuId { get; }

    public bool IsBootstrapProcessor { get; }

    /// <summary>The 8259 pair whose output this APIC takes through LINT0 in ExtINT mode (KVM wires it to every vCPU, the guest unmasks it on one).</summary>
    public I8259Pic? Pic { get; set; }

    /// <summary>Where EOIs go: the IOAPIC.</summary>
    public IEoiListener? EoiListener { get; set; }

    /// <summary>The guest TSC, needed only for TSC-deadline mode.</summary>
    public IGuestTsc? Tsc { get; set; }

    public event Action? DeadlineChanged;

    /// <summary>
    /// IA32_APIC_BASE (MSR 0x1B) as the host sets it (KVM_SET_SREGS,
    /// KVM_SET_MSRS): taken without the guest's checks, see
    /// <see cref="TryWriteBaseMsr"/>. Clearing the enable bit disables the APIC
    /// (the page no longer decodes; nothing is accepted).
    /// </summary>
    public ulong BaseMsr
    {
        get { lock (_lock) return _baseMsr; }
        set { lock (_lock) ApplyBaseMsr(value); }
    }

    public ulong BaseAddress => BaseMsr & 0xF_FFFF_F000;

    public bool HardwareEnabled => (BaseMsr & BaseMsrEnable) != 0;

    /// <summary>Whether the xAPIC page at <see cref="BaseAddress"/> answers: enabled and not in x2APIC mode.</summary>
    public bool DecodesMmio => (BaseMsr & (BaseMsrEnable | BaseMsrX2Apic)) == BaseMsrEnable;

    public bool SoftwareEnabled
    {
        get { lock (_lock) return (Get(ApicRegisters.SpuriousVector) & SpivEnabled) != 0; }
    }

    /// <summary>The APIC ID: bits 24-31 of the ID register in xAPIC mode, all 32 bits in x2APIC mode.</summary>
    public uint ApicId
    {
        get { lock (_lock) return X2ApicMode ? Get(ApicRegisters.Id) : Get(ApicRegisters.Id) >> 24; }
    }

    /// <summary>CR8: the task-priority class (TPR bits 4-7).</summary>
    public ulong Cr8
    {
        get { lock (_lock) return (Get(ApicRegisters.TaskPriority) >> 4) & 0xF; }
        set => WriteRegister(ApicRegisters.TaskPriority, (uint)(value & 0xF) << 4);
    }

    /// <summary>
    /// Power-on (or, with <paramref name="initSignal"/>, INIT) state as KVM sets
    /// it: ID = vCPU id, all LVTs masked except the BSP's LINT0 in ExtINT mode,
    /// DFR flat, SPIV 0xFF (software-disabled). INIT keeps the base MSR.
    /// </summary>
    public void Reset(bool initSignal = false)
    {
        lock (_lock)
        {
            // INIT keeps the ID, and in x2APIC mode the LDR derived from it.
            uint id = Get(ApicRegisters.Id);
            uint ldr = Get(ApicRegisters.LogicalDestination);
            bool keepLdr = initSignal && X2ApicMode;
            Array.Clear(_page);
            if (!initSignal)
                _baseMsr = DefaultBaseAddress | BaseMsrEnable | (IsBootstrapProcessor ? BaseMsrBsp : 0);
            Set(ApicRegisters.Id, initSignal ? id : VcpuId << 24);
            if (keepLdr)
                Set(ApicRegisters.LogicalDestination, ldr);
            Set(ApicRegisters.Version, Version);
            foreach (var (register, _) in s_lvts)
                Set(register, LvtMasked);
            if (IsBootstrapProcessor)
                Set(ApicRegisters.LvtLint0, (uint)ApicDeliveryMode.ExtInt << 8);
            Set(ApicRegisters.DestinationFormat, 0xFFFF_FFFF);
            Set(ApicRegisters.SpuriousVector, 0xFF);
            _divideCount = 2;
            StopTimer();
        }
    }

    /// <summary>KVM_GET_LAPIC: the page, with the timer's current count filled in.</summary>
    public KvmLapicState GetState()
    {
        var state = new KvmLapicState();
        lock (_lock)
        {
            Span<byte> regs;
            unsafe
            {
                regs = new Span<byte>(state.Regs, KvmConstants.KVM_APIC_REG_SIZE);
            }
            _page.CopyTo(regs);
            BinaryPrimitives.WriteUInt32LittleEndian(regs[ApicRegisters.TimerCurrentCount..], CurrentCount(_clock.Nanoseconds));
            // Without KVM_CAP_X2APIC_API, KVM shows an x2APIC ID where the xAPIC keeps it.
            if (X2ApicMode)
                BinaryPrimitives.WriteUInt32LittleEndian(regs[ApicRegisters.Id..], Get(ApicRegisters.Id) << 24);
        }
        return state;
    }

    /// <summary>
    /// KVM_SET_LAPIC: the page is taken as is, except that the version is
    /// re-imposed and PPR recomputed, as KVM does; the timer restarts from the
    /// page's current count (or, in TSC-deadline mode, keeps the armed deadline).
    /// </summary>
    public void SetState(in KvmLapicState state)
    {
        bool pending;
        lock (_lock)
        {
            unsafe
            {
                fixed (byte* regs = state.Regs)
                    new ReadOnlySpan<byte>(regs, KvmConstants.KVM_APIC_REG_SIZE).CopyTo(_page);
            }
            if (X2ApicMode)
            {
                uint id = Get(ApicRegisters.Id) >> 24;
                Set(ApicRegisters.Id, id);
                Set(ApicRegisters.LogicalDestination, X2ApicLogicalId(id));
            }
            Set(ApicRegisters.Version, Version);
            UpdatePpr();
            // The armed TSC deadline is not in the page (it is an MSR): KVM keeps it.
            ulong tscDeadline = _tscDeadline;
            StopTimer();
            _divideCount = DivideCount(Get(ApicRegisters.TimerDivide));
            if (!TscDeadlineMode)
            {
                StartTimer(Get(ApicRegisters.TimerCurrentCount));
            }
            else if (tscDeadline != 0)
            {
                _tscDeadline = tscDeadline;
                _targetExpiration = DeadlineToNanoseconds(tscDeadline);
            }
            Set(ApicRegisters.TimerCurrentCount, 0);
            pending = PendingVector() >= 0;
        }
        DeadlineChanged?.Invoke();
        if (pending)
            _sink.SignalInterrupt();
    }

    /// <summary>A 32-bit register read, as the guest sees it at <paramref name="offset"/> in the page; unreadable registers read 0.</summary>
    public uint ReadRegister(int offset)
    {
        lock (_lock)
        {
            offset &= 0x3F0;
            return offset switch
            {
                ApicRegisters.TimerCurrentCount => CurrentCount(_clock.Nanoseconds),
                ApicRegisters.ArbitrationPriority or ApicRegisters.Eoi or ApicRegisters.RemoteRead or ApicRegisters.SelfIpi => 0,
                _ when IsReadable(offset) => Get(offset),
                _ => 0,
            };
        }
    }

    /// <summary>A 32-bit register write at <paramref name="offset"/>; writes to read-only or reserved registers are ignored.</summary>
    public void WriteRegister(int offset, uint value)
    {
        var after = new AfterLock();
        lock (_lock)
            WriteLocked(offset & 0x3F0, value, ref after);
        Finish(after);
    }

    /// <summary>
    /// An access to the xAPIC page at <paramref name="offset"/> (0-0xFFF).
    /// Reads may be 1-4 bytes inside one register; writes only 4 aligned bytes
    /// (KVM drops others).
    /// </summary>
    public void ReadMmio(uint offset, Span<byte> data)
    {
        uint value = (offset & 0xC00) != 0 ? 0 : ReadRegister((int)(offset & 0x3F0));
        int shift = (int)(offset & 0xF);
        Span<byte> bytes = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(bytes, value);
        for (int i = 0; i < data.Length; i++)
            data[i] = shift + i < 4 ? bytes[shift + i] : (byte)0;
    }

    public void WriteMmio(uint offset, ReadOnlySpan<byte> data)
    {
        if (data.Length != 4 || (offset & 0xF) != 0 || (offset & 0xC00) != 0)
            return;
        WriteRegister((int)offset, BinaryPrimitives.ReadUInt32LittleEndian(data));
    }

    /// <summary>Wakes this APIC's vCPU to look for interrupts (the PIC's output rising arrives this way).</summary>
    public void Kick() => _sink.SignalInterrupt();

    /// <summary>Whether a maskable interrupt waits for the CPU (PIC through LINT0, or an IRR vector above PPR).</summary>
    public bool HasInterrupt
    {
        get
        {
            if (Pic is { } pic && AcceptsPicInterrupts && pic.Output)
                return true;
            lock (_lock)
                return PendingVector() >= 0;
        }
    }

    /// <summary>Whether LINT0 passes the PIC's output: APIC disabled in the base MSR, or LINT0 unmasked in ExtINT mode.</summary>
    public bool AcceptsPicInterrupts
    {
        get
        {
            lock (_lock)
            {
                uint lint0 = Get(ApicRegisters.LvtLint0);
                return (_baseMsr & BaseMsrEnable) == 0
                    || ((lint0 & LvtMasked) == 0 && ((lint0 >> 8) & 7) == (uint)ApicDeliveryMode.ExtInt);
            }
        }
    }

    public bool TryAcknowledge(out byte vector)
    {
        if (Pic is { } pic && AcceptsPicInterrupts && pic.Output)
        {
            vector = pic.Acknowledge();
            return true;
        }
        lock (_lock)
        {
            int pending = PendingVector();
            if (pending < 0)
            {
                vector = 0;
                return false;
            }
            SetBit(ApicRegisters.Irr, pending, false);
            SetBit(ApicRegisters.Isr, pending, true);
            UpdatePpr();
            vector = (byte)pending;
            return true;
        }
    }

    /// <summary>
    /// Whether this APIC is a destination of <paramref name="interrupt"/> sent by
    /// <paramref name="source"/> (null for the IOAPIC and MSIs), by KVM's rules:
    /// 0xFF is a broadcast to xAPICs (and, from a device, to x2APICs too),
    /// 0xFFFFFFFF to x2APICs; logical destinations follow DFR flat or cluster
    /// models in xAPIC mode and the cluster/bitmap LDR in x2APIC mode.
    /// </summary>
    public bool MatchesDestination(in ApicInterrupt interrupt, LocalApic? source)
    {
        switch (interrupt.Shorthand)
        {
            case ApicShorthand.Self: return source == this;
            case ApicShorthand.AllIncludingSelf: return true;
            case ApicShorthand.AllExcludingSelf: return source != this;
        }
        lock (_lock)
        {
            bool x2Apic = X2ApicMode;
            uint destination = interrupt.Destination;
            if (source is null && destination == 0xFF && x2Apic)
                destination = X2ApicBroadcast;
            if (destination == (x2Apic ? X2ApicBroadcast : 0xFF))
                return true;
            if (!interrupt.LogicalDestination)
                return x2Apic || destination > 0xFF ? destination == X2ApicId : destination == Get(ApicRegisters.Id) >> 24;
            uint ldr = Get(ApicRegisters.LogicalDestination);
            if (x2Apic)
                return (ldr >> 16) == (destination >> 16) && (ldr & destination & 0xFFFF) != 0;
            uint logicalId = ldr >> 24;
            return Get(ApicRegisters.DestinationFormat) switch
            {
                0xFFFF_FFFF => (logicalId & destination) != 0,
                0x0FFF_FFFF => (logicalId >> 4) == (destination >> 4) && (logicalId & destination & 0xF) != 0,
                _ => false,
            };
        }
    }

    /// <summary>Accepts an interrupt message addressed to this APIC; true when it was taken (KVM's __apic_accept_irq result).</summary>
    public bool Accept(in ApicInterrupt interrupt)
    {
        switch (interrupt.DeliveryMode)
        {
            case ApicDeliveryMode.Fixed or ApicDeliveryMode.LowestPriority:
                // A level-triggered de-assert carries nothing to a local APIC.
                if (interrupt.LevelTriggered && !interrupt.Assert)
                    return false;
                lock (_lock)
                {
                    if ((_baseMsr & BaseMsrEnable) == 0 || (Get(ApicRegisters.SpuriousVector) & SpivEnabled) == 0)
                        return false;
                    SetBit(ApicRegisters.Tmr, interrupt.Vector, interrupt.LevelTriggered);
                    SetBit(ApicRegisters.Irr, interrupt.Vector, true);
                }
                _sink.SignalInterrupt();
                return true;
            case ApicDeliveryMode.Nmi:
                _sink.DeliverNmi();
                return true;
            case ApicDeliveryMode.Smi:
                _sink.DeliverSmi();
                return true;
            case ApicDeliveryMode.Init:
                if (interrupt.LevelTriggered && !interrupt.Assert)
                    return false;
                _sink.DeliverInit();
                return true;
            case ApicDeliveryMode.Startup:
                _sink.DeliverSipi(interrupt.Vector);
                return true;
            case ApicDeliveryMode.RemoteRead:
                return true;
            default:
                return false;
        }
    }

    private static uint LvtWriteMask(int register)
    {
        foreach (var (lvt, mask) in s_lvts)
            if (lvt == register)
                return mask;
        return 0;
    }

    private bool TscDeadlineMode => (Get(ApicRegisters.LvtTimer) & TimerModeMask) == TimerTscDeadline;

    private bool PeriodicMode => (Get(ApicRegisters.LvtTimer) & TimerModeMask) == TimerPeriodic;

    private static bool IsReadable(int offset) => offset switch
    {
        ApicRegisters.Id or ApicRegisters.Version or ApicRegisters.TaskPriority or ApicRegisters.ProcessorPriority
            or ApicRegisters.LogicalDestination or ApicRegisters.DestinationFormat or ApicRegisters.SpuriousVector
            or ApicRegisters.ErrorStatus or ApicRegisters.InterruptCommandLow or ApicRegisters.InterruptCommandHigh
            or ApicRegisters.LvtTimer or ApicRegisters.LvtThermal or ApicRegisters.LvtPerformance
            or ApicRegisters.LvtLint0 or ApicRegisters.LvtLint1 or ApicRegisters.LvtError
            or ApicRegisters.TimerInitialCount or ApicRegisters.TimerDivide => true,
        >= ApicRegisters.Isr and < ApicRegisters.Irr + 0x80 => true,
        _ => false,
    };

    private uint Get(int offset) => BinaryPrimitives.ReadUInt32LittleEndian(_page.AsSpan(offset));

    private void Set(int offset, uint value) => BinaryPrimitives.WriteUInt32LittleEndian(_page.AsSpan(offset), value);

    private bool GetBit(int bank, int vector) => (Get(bank + (vector >> 5) * 0x10) & (1u << (vector & 31))) != 0;

    private void SetBit(int bank, int vector, bool value)
    {
        int offset = bank + (vector >> 5) * 0x10;
        uint bit = 1u << (vector & 31);
        Set(offset, value ? Get(offset) | bit : Get(offset) & ~bit);
    }

    private int HighestVector(int bank)
    {
        for (int word = 7; word >= 0; word--)
        {
            uint bits = Get(bank + word * 0x10);
            if (bits != 0)
                return word * 32 + 31 - System.Numerics.BitOperations.LeadingZeroCount(bits);
        }
        return -1;
    }

    // PPR is the higher of TPR and the class of the highest vector in service.
    private void UpdatePpr()
    {
        uint tpr = Get(ApicRegisters.TaskPriority) & 0xFF;
        int isr = Math.Max(HighestVector(ApicRegisters.Isr), 0);
        uint ppr = (tpr & 0xF0) >= ((uint)isr & 0xF0) ? tpr : (uint)isr & 0xF0;
        Set(ApicRegisters.ProcessorPriority, ppr);
    }

    // The IRR vector the CPU may take: its class must exceed PPR's.
    private int PendingVector()
    {
        if ((_baseMsr & BaseMsrEnable) == 0)
            return -1;
        int irr = HighestVector(ApicRegisters.Irr);
        return irr >= 0 && (irr & 0xF0) > Get(ApicRegisters.ProcessorPriority) ? irr : -1;
    }
}
