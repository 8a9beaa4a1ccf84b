using KvmSharp.Abi;

namespace KvmSharp.Soft.Platform;

/// <summary>
/// The two cascaded 8259A PICs of a PC (master at 0x20, slave at 0xA0 on the
/// master's IRQ 2, edge/level control at 0x4D0/0x4D1), with the state and the
/// quirks of Linux KVM's in-kernel model, so that KVM_GET/SET_IRQCHIP chips 0
/// and 1 round-trip through <see cref="KvmPicState"/> unchanged.
/// </summary>
/// <remarks>
/// As in KVM: single (non-cascaded) mode and level mode in ICW1 are not
/// modelled (ELCR decides edge or level per pin); a poll read clears the
/// polled request instead of setting its ISR bit; gating of the output by the
/// local APIC is the APIC's business (see <see cref="LocalApic"/>).
/// </remarks>
public sealed class I8259Pic
{
    public const ushort MasterCommandPort = 0x20;
    public const ushort MasterDataPort = 0x21;
    public const ushort SlaveCommandPort = 0xA0;
    public const ushort SlaveDataPort = 0xA1;
    public const ushort MasterElcrPort = 0x4D0;
    public const ushort SlaveElcrPort = 0x4D1;

    // Pins that can be level-triggered: not the timer, keyboard, cascade (master)
    // nor RTC and FPU (slave) - the values KVM reports as elcr_mask.
    private const byte MasterElcrMask = 0xF8;
    private const byte SlaveElcrMask = 0xDE;

    private readonly object _lock = new();
    private readonly PicChip[] _chips = [new PicChip(), new PicChip()];
    private bool _output;

    public I8259Pic() => Reset();

    /// <summary>Raised, outside the lock, when the output to the CPU goes high: kick the vCPU that accepts PIC interrupts.</summary>
    public event Action? InterruptRequested;

    /// <summary>Raised, outside the lock, when the guest ends an interrupt on <c>irq</c> (0-15): KVM's ack notifiers (PIT reinjection, irqfd resample).</summary>
    public event Action<int>? InterruptAcknowledged;

    /// <summary>Whether the master's INT output is asserted (KVM's pic->output).</summary>
    public bool Output
    {
        get { lock (_lock) return _output; }
    }

    /// <summary>The state KVM_CREATE_IRQCHIP leaves: everything zero but the ELCR masks.</summary>
    public void Reset()
    {
        lock (_lock)
        {
            _chips[0].Load(new KvmPicState { ElcrMask = MasterElcrMask });
            _chips[1].Load(new KvmPicState { ElcrMask = SlaveElcrMask });
            _output = false;
        }
    }

    /// <summary>
    /// Drives pin <paramref name="irq"/> (0-15) to <paramref name="level"/>.
    /// Returns as KVM does: 1 the request is new, 0 it merged with one already
    /// pending (coalesced), -1 the pin is masked.
    /// </summary>
    public int SetIrq(int irq, bool level)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(irq);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(irq, 15);
        int result;
        bool raise;
        lock (_lock)
        {
            result = _chips[irq >> 3].SetIrq(irq & 7, level);
            raise = Update();
        }
        if (raise)
            InterruptRequested?.Invoke();
        return result;
    }

    /// <summary>INTA: the vector of the highest request, now in service (IRQ 7's vector, spurious, if none).</summary>
    public byte Acknowledge()
    {
        byte vector;
        var acked = new AckList();
        bool raise;
        lock (_lock)
        {
            var master = _chips[0];
            var slave = _chips[1];
            int irq = master.PendingIrq(isMaster: true);
            if (irq >= 0)
            {
                master.Intack(irq, ref acked, 0);
                if (irq == 2)
                {
                    int irq2 = slave.PendingIrq(isMaster: false);
                    if (irq2 >= 0)
                        slave.Intack(irq2, ref acked, 8);
                    else
                        irq2 = 7;
                    vector = (byte)(slave.IrqBase + irq2);
                }
                else
                {
                    vector = (byte)(master.IrqBase + irq);
                }
            }
            else
            {
                vector = (byte)(master.IrqBase + 7);
            }
            raise = Update();
        }
        Notify(acked, raise);
        return vector;
    }

    public byte ReadPort(ushort port)
    {
        byte value;
        var acked = new AckList();
        bool raise = false;
        lock (_lock)
        {
            switch (port)
            {
                case MasterElcrPort: value = _chips[0].Elcr; break;
                case SlaveElcrPort: value = _chips[1].Elcr; break;
                case MasterCommandPort or MasterDataPort or SlaveCommandPort or SlaveDataPort:
                    {
                        int index = port >= SlaveCommandPort ? 1 : 0;
                        var chip = _chips[index];
                        if (chip.Poll != 0)
                        {
                            value = PollRead(index, ref acked, out raise);
                            chip.Poll = 0;
                        }
                        else if ((port & 1) == 0)
                        {
                            value = chip.ReadRegSelect != 0 ? chip.Isr : chip.Irr;
                        }
                        else
                        {
                            value = chip.Imr;
                        }
                        break;
                    }
                default: throw new ArgumentOutOfRangeException(nameof(port), $"port 0x{port:x} is not a PIC port");
            }
        }
        Notify(acked, raise);
        return value;
    }

    public void WritePort(ushort port, byte value)
    {
        var acked = new AckList();
        bool raise;
        lock (_lock)
        {
            switch (port)
            {
                case MasterElcrPort: _chips[0].Elcr = (byte)(value & _chips[0].ElcrMask); break;
                case SlaveElcrPort: _chips[1].Elcr = (byte)(value & _chips[1].ElcrMask); break;
                case MasterCommandPort or SlaveCommandPort:
                    _chips[port == SlaveCommandPort ? 1 : 0].WriteCommand(value, ref acked, port == SlaveCommandPort ? 8 : 0);
                    break;
                case MasterDataPort or SlaveDataPort:
                    _chips[port == SlaveDataPort ? 1 : 0].WriteData(value);
                    break;
                default: throw new ArgumentOutOfRangeException(nameof(port), $"port 0x{port:x} is not a PIC port");
            }
            raise = Update();
        }
        Notify(acked, raise);
    }

    /// <summary>KVM_GET_IRQCHIP for chip 0 (master) or 1 (slave).</summary>
    public KvmPicState GetState(int chip)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(chip);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(chip, 1);
        lock (_lock)
            return _chips[chip].Save();
    }

    /// <summary>KVM_SET_IRQCHIP for chip 0 or 1: taken as is, as KVM copies it, then the output is re-evaluated.</summary>
    public void SetState(int chip, in KvmPicState state)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(chip);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(chip, 1);
        bool raise;
        lock (_lock)
        {
            _chips[chip].Load(state);
            raise = Update();
        }
        if (raise)
            InterruptRequested?.Invoke();
    }

    // Poll mode: the read returns 0x80 | level of the highest request and, as in
    // KVM, retires that request rather than putting it in service.
    private byte PollRead(int index, ref AckList acked, out bool raise)
    {
        var chip = _chips[index];
        int irq = chip.PendingIrq(isMaster: index == 0);
        if (irq < 0)
        {
            raise = Update();
            return 0x07;
        }
        if (index == 1)
        {
            _chips[0].Isr &= unchecked((byte)~(1 << 2));
            _chips[0].Irr &= unchecked((byte)~(1 << 2));
        }
        chip.Irr &= (byte)~(1 << irq);
        chip.ClearIsr(irq, ref acked, index * 8);
        raise = index == 1 || irq != 2 ? Update() : false;
        return (byte)(irq | 0x80);
    }

    // Propagates the slave's request through the cascade pin and recomputes the
    // output; true when the output is (still) high and the vCPU should look.
    private bool Update()
    {
        if (_chips[1].PendingIrq(isMaster: false) >= 0)
        {
            _chips[0].SetIrq(2, true);
            _chips[0].SetIrq(2, false);
        }
        _output = _chips[0].PendingIrq(isMaster: true) >= 0;
        return _output;
    }

    private void Notify(AckList acked, bool raise)
    {
        if (InterruptAcknowledged is { } handler)
            foreach (int irq in acked)
                handler(irq);
        if (raise)
            InterruptRequested?.Invoke();
    }

    /// <summary>IRQs whose ISR bit was cleared under the lock, announced after it.</summary>
    private struct AckList
    {
        private int _mask;

        public void Add(int irq) => _mask |= 1 << irq;

        public readonly IEnumerator<int> GetEnumerator()
        {
            for (int irq = 0; irq < 16; irq++)
                if ((_mask & (1 << irq)) != 0)
                    yield return irq;
        }
    }

    private sealed class PicChip
    {
        public byte LastIrr, Irr, Imr, Isr, PriorityAdd, IrqBase, ReadRegSelect, Poll, SpecialMask;
        public byte InitState, AutoEoi, RotateOnAutoEoi, SpecialFullyNestedMode, Init4, Elcr, ElcrMask;

        public KvmPicState Save() => new()
        {
            LastIrr = LastIrr, Irr = Irr, Imr = Imr, Isr = Isr, PriorityAdd = PriorityAdd, IrqBase = IrqBase,
            ReadRegSelect = ReadRegSelect, Poll = Poll, SpecialMask = SpecialMask, InitState = InitState,
            AutoEoi = AutoEoi, RotateOnAutoEoi = RotateOnAutoEoi, SpecialFullyNestedMode = SpecialFullyNestedMode,
            Init4 = Init4, Elcr = Elcr, ElcrMask = ElcrMask,
        };

        public void Load(in KvmPicState s)
        {
            LastIrr = s.LastIrr; Irr = s.Irr; Imr = s.Imr; Isr = s.Isr; PriorityAdd = s.PriorityAdd; IrqBase = s.IrqBase;
            ReadRegSelect = s.ReadRegSelect; Poll = s.Poll; SpecialMask = s.SpecialMask; InitState = s.InitState;
            AutoEoi = s.AutoEoi; RotateOnAutoEoi = s.RotateOnAutoEoi; SpecialFullyNestedMode = s.SpecialFullyNestedMode;
            Init4 = s.Init4; Elcr = s.Elcr; ElcrMask = s.ElcrMask;
        }

        public int SetIrq(int irq, bool level)
        {
            byte mask = (byte)(1 << irq);
            int result = 1;
            if ((Elcr & mask) != 0)
            {
                if (level)
                {
                    result = (Irr & mask) == 0 ? 1 : 0;
                    Irr |= mask;
                    LastIrr |= mask;
                }
                else
                {
                    Irr &= (byte)~mask;
                    LastIrr &= (byte)~mask;
                }
            }
            else if (level)
            {
                // An edge is a low-to-high transition: a line held high requests once.
                if ((LastIrr & mask) == 0)
                {
                    result = (Irr & mask) == 0 ? 1 : 0;
                    Irr |= mask;
                }
                LastIrr |= mask;
            }
            else
            {
                LastIrr &= (byte)~mask;
            }
            return (Imr & mask) != 0 ? -1 : result;
        }

        // Priority 0 is the highest; rotation moves which IRQ holds it.
        private int Priority(int mask)
        {
            if (mask == 0)
                return 8;
            int priority = 0;
            while ((mask & (1 << ((priority + PriorityAdd) & 7))) == 0)
                priority++;
            return priority;
        }

        /// <summary>The IRQ this chip would present now, or -1.</summary>
        public int PendingIrq(bool isMaster)
        {
            int priority = Priority(Irr & ~Imr);
            if (priority == 8)
                return -1;
            int inService = Isr;
            // Fully nested mode lets the slave interrupt a slave interrupt in service.
            if (SpecialFullyNestedMode != 0 && isMaster)
                inService &= ~(1 << 2);
            // Special mask mode: masked levels do not block lower ones.
            if (SpecialMask != 0)
                inService &= ~Imr;
            return priority < Priority(inService) ? (priority + PriorityAdd) & 7 : -1;
        }

        public void Intack(int irq, ref AckList acked, int irqOffset)
        {
            byte mask = (byte)(1 << irq);
            Isr |= mask;
            // A level request stays until the device drops its line.
            if ((Elcr & mask) == 0)
                Irr &= (byte)~mask;
            if (AutoEoi != 0)
            {
                if (RotateOnAutoEoi != 0)
                    PriorityAdd = (byte)((irq + 1) & 7);
                ClearIsr(irq, ref acked, irqOffset);
            }
        }

        public void ClearIsr(int irq, ref AckList acked, int irqOffset)
        {
            Isr &= (byte)~(1 << irq);
            acked.Add(irq + irqOffset);
        }

        public void WriteCommand(byte value, ref AckList acked, int irqOffset)
        {
            if ((value & 0x10) != 0)
            {
                Init4 = (byte)(value & 1);
                ResetForIcw1(ref acked, irqOffset);
            }
            else if ((value & 0x08) != 0)
            {
                if ((value & 0x04) != 0)
                    Poll = 1;
                if ((value & 0x02) != 0)
                    ReadRegSelect = (byte)(value & 1);
                if ((value & 0x40) != 0)
                    SpecialMask = (byte)((value >> 5) & 1);
            }
            else
            {
                WriteOcw2(value, ref acked, irqOffset);
            }
        }

        private void WriteOcw2(byte value, ref AckList acked, int irqOffset)
        {
            int command = value >> 5;
            switch (command)
            {
                case 0 or 4: // clear or set rotate-in-automatic-EOI
                    RotateOnAutoEoi = (byte)(command >> 2);
                    break;
                case 1 or 5: // non-specific EOI, optionally rotating
                    {
                        int priority = Priority(Isr);
                        if (priority != 8)
                        {
                            int irq = (priority + PriorityAdd) & 7;
                            if (command == 5)
                                PriorityAdd = (byte)((irq + 1) & 7);
                            ClearIsr(irq, ref acked, irqOffset);
                        }
                        break;
                    }
                case 3: // specific EOI
                    ClearIsr(value & 7, ref acked, irqOffset);
                    break;
                case 7: // rotate on specific EOI
                    PriorityAdd = (byte)(((value & 7) + 1) & 7);
                    ClearIsr(value & 7, ref acked, irqOffset);
                    break;
                case 6: // set priority: the named IRQ becomes the lowest
                    PriorityAdd = (byte)((value + 1) & 7);
                    break;
            }
        }

        public void WriteData(byte value)
        {
            switch (InitState)
            {
                case 0: Imr = value; break;
                case 1: IrqBase = (byte)(value & 0xF8); InitState = 2; break;
                case 2: InitState = (byte)(Init4 != 0 ? 3 : 0); break;
                case 3:
                    SpecialFullyNestedMode = (byte)((value >> 4) & 1);
                    AutoEoi = (byte)((value >> 1) & 1);
                    InitState = 0;
                    break;
            }
        }

        // ICW1 restarts initialization; KVM keeps level requests and the ELCR,
        // and retires the in-service state of the edge requests it drops.
        private void ResetForIcw1(ref AckList acked, int irqOffset)
        {
            int droppedEdges = Irr & ~Elcr;
            LastIrr = 0;
            Irr &= Elcr;
            Imr = 0;
            PriorityAdd = 0;
            SpecialMask = 0;
            ReadRegSelect = 0;
            if (Init4 == 0)
            {
                SpecialFullyNestedMode = 0;
                AutoEoi = 0;
            }
            InitState = 1;
            for (int irq = 0; irq < 8; irq++)
                if ((droppedEdges & (1 << irq)) != 0)
                    ClearIsr(irq, ref acked, irqOffset);
        }
    }
}
