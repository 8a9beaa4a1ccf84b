namespace KvmSharp.Vmm.Devices.Legacy;

/// <summary>
/// A 16550A UART as the PC has it (COM1 at 0x3f8, IRQ 4): eight byte-wide
/// registers, 16-byte receive FIFO, the four interrupt sources in datasheet
/// priority, loopback, and the PC's OUT2 gate on the interrupt output.
/// Transmission is instantaneous: the transmitter is always empty, and a
/// byte written to THR goes straight to the output stream, which is flushed
/// after every byte. Host input waits in an
/// unbounded queue and enters the receive FIFO as the guest drains it, so a
/// paste is never overrun.
/// </summary>
public sealed class Uart16550 : IBusDevice, IHostInput
{
    public const ushort Com1Port = 0x3F8;
    public const int Com1Irq = 4;
    public const int RegisterCount = 8;
    public const int FifoSize = 16;

    // Register offsets.
    private const int RbrThrDll = 0, IerDlm = 1, IirFcr = 2, Lcr = 3, Mcr = 4, Lsr = 5, Msr = 6, Scr = 7;

    // Bits, named as in the 16550 datasheet.
    public const byte IerReceivedData = 0x01, IerThrEmpty = 0x02, IerLineStatus = 0x04, IerModemStatus = 0x08;
    public const byte IirNoInterrupt = 0x01, IirLineStatus = 0x06, IirReceivedData = 0x04, IirCharacterTimeout = 0x0C, IirThrEmpty = 0x02, IirModemStatus = 0x00, IirFifosEnabled = 0xC0;
    public const byte FcrEnable = 0x01, FcrClearReceive = 0x02, FcrClearTransmit = 0x04;
    public const byte LcrDlab = 0x80;
    public const byte McrDtr = 0x01, McrRts = 0x02, McrOut1 = 0x04, McrOut2 = 0x08, McrLoop = 0x10;
    public const byte LsrDataReady = 0x01, LsrOverrun = 0x02, LsrParity = 0x04, LsrFraming = 0x08, LsrBreak = 0x10, LsrThrEmpty = 0x20, LsrTransmitterEmpty = 0x40;
    public const byte MsrDeltaCts = 0x01, MsrDeltaDsr = 0x02, MsrTrailingEdgeRi = 0x04, MsrDeltaDcd = 0x08, MsrCts = 0x10, MsrDsr = 0x20, MsrRi = 0x40, MsrDcd = 0x80;
    private const byte LsrErrors = LsrOverrun | LsrParity | LsrFraming | LsrBreak;

    // What the far end of the cable asserts: a terminal that is present and ready.
    private const byte HostModemLines = MsrDcd | MsrDsr | MsrCts;

    private static readonly int[] TriggerLevels = [1, 4, 8, 14];

    private readonly object _lock = new();
    private readonly Stream _output;
    private readonly IInterruptLine _interrupt;
    private readonly Queue<byte> _hostInput = new();
    private readonly Queue<byte> _receiveFifo = new(FifoSize);
    private byte _ier, _lcr = 0x03, _mcr, _lineErrors, _msr = HostModemLines, _scr, _dll = 0x0C, _dlm;
    private bool _fifoEnabled, _thrEmptyPending;
    private int _triggerLevel = 1;
    private long _droppedOutputBytes;

    public Uart16550(Stream output, IInterruptLine interrupt)
    {
        _output = output;
        _interrupt = interrupt;
    }

    /// <summary>Bytes the output stream refused (it threw); they are lost, the guest never notices.</summary>
    public long DroppedOutputBytes => Interlocked.Read(ref _droppedOutputBytes);

    public void Receive(ReadOnlySpan<byte> bytes)
    {
        lock (_lock)
        {
            foreach (byte b in bytes)
                _hostInput.Enqueue(b);
            FillReceiveFifo();
            UpdateInterrupt();
        }
    }

    public void Read(ulong offset, Span<byte> data)
    {
        lock (_lock)
        {
            for (int i = 0; i < data.Length; i++)
                data[i] = ReadRegister((int)offset + i);
            UpdateInterrupt();
        }
    }

    public void Write(ulong offset, ReadOnlySpan<byte> data)
    {
        lock (_lock)
        {
            for (int i = 0; i < data.Length; i++)
                WriteRegister((int)offset + i, data[i]);
            UpdateInterrupt();
        }
    }

    private bool Dlab => (_lcr & LcrDlab) != 0;

    private bool Loopback => (_mcr & McrLoop) != 0;

    private int ReceiveCapacity => _fifoEnabled ? FifoSize : 1;

    private byte ReadRegister(int register)
    {
        switch (register)
        {
            case RbrThrDll:
                if (Dlab)
                    return _dll;
                if (_receiveFifo.Count == 0)
                    return 0;
                byte received = _receiveFifo.Dequeue();
                FillReceiveFifo();
                return received;
            case IerDlm:
                return Dlab ? _dlm : _ier;
            case IirFcr:
                byte iir = InterruptIdentification();
                // Reading IIR is what acknowledges a transmitter-empty interrupt, and only when it is the one shown.
                if ((iir & 0x0F) == IirThrEmpty)
                    _thrEmptyPending = false;
                return iir;
            case Lcr:
                return _lcr;
            case Mcr:
                return _mcr;
            case Lsr:
                byte lsr = (byte)(_lineErrors | LsrThrEmpty | LsrTransmitterEmpty | (_receiveFifo.Count > 0 ? LsrDataReady : 0));
                _lineErrors = 0;
                return lsr;
            case Msr:
                byte msr = _msr;
                _msr &= 0xF0;
                return msr;
            case Scr:
                return _scr;
            default:
                return 0xFF;
        }
    }

    private void WriteRegister(int register, byte value)
    {
        switch (register)
        {
            case RbrThrDll:
                if (Dlab)
                    _dll = value;
                else
                    Transmit(value);
                break;
            case IerDlm:
                if (Dlab)
                {
                    _dlm = value;
                    break;
                }
                bool thrEnabledNow = (value & IerThrEmpty) != 0 && (_ier & IerThrEmpty) == 0;
                _ier = (byte)(value & 0x0F);
                // Enabling the THRE interrupt while the holding register is empty raises it at once.
                if (thrEnabledNow)
                    _thrEmptyPending = true;
                break;
            case IirFcr:
                WriteFifoControl(value);
                break;
            case Lcr:
                _lcr = value;
                break;
            case Mcr:
                _mcr = (byte)(value & 0x1F);
                UpdateModemStatus();
                FillReceiveFifo();
                break;
            case Lsr:
                break; // Factory test register on the 16550; writes have no defined effect.
            case Msr:
                break;
            case Scr:
                _scr = value;
                break;
        }
    }

    private void Transmit(byte value)
    {
        if (Loopback)
            ReceiveByte(value);
        else
        {
            try
            {
                _output.WriteByte(value);
                // Each byte costs the guest an exit anyway; flushing keeps a prompt without newline visible.
                _output.Flush();
            }
            catch (Exception e) when (e is IOException or ObjectDisposedException or NotSupportedException)
            {
                Interlocked.Increment(ref _droppedOutputBytes);
            }
        }
        _thrEmptyPending = true;
    }

    private void ReceiveByte(byte value)
    {
        if (_receiveFifo.Count < ReceiveCapacity)
            _receiveFifo.Enqueue(value);
        else
            _lineErrors |= LsrOverrun;
    }

    private void WriteFifoControl(byte value)
    {
        bool enable = (value & FcrEnable) != 0;
        if (enable != _fifoEnabled)
        {
            // Switching FIFO mode either way empties both FIFOs.
            _receiveFifo.Clear();
            _fifoEnabled = enable;
        }
        if (!enable)
            return;
        if ((value & FcrClearReceive) != 0)
            _receiveFifo.Clear();
        _triggerLevel = TriggerLevels[value >> 6];
        FillReceiveFifo();
    }

    private void UpdateModemStatus()
    {
        byte lines = Loopback
            ? (byte)(((_mcr & McrRts) != 0 ? MsrCts : 0) | ((_mcr & McrDtr) != 0 ? MsrDsr : 0) | ((_mcr & McrOut1) != 0 ? MsrRi : 0) | ((_mcr & McrOut2) != 0 ? MsrDcd : 0))
            : HostModemLines;
        byte changed = (byte)((_msr ^ lines) & 0xF0);
        byte deltas = (byte)(_msr & 0x0F);
        if ((changed & MsrCts) != 0) deltas |= MsrDeltaCts;
        if ((changed & MsrDsr) != 0) deltas |= MsrDeltaDsr;
        if ((changed & MsrDcd) != 0) deltas |= MsrDeltaDcd;
        if ((changed & MsrRi) != 0 && (lines & MsrRi) == 0) deltas |= MsrTrailingEdgeRi;
        _msr = (byte)(lines | deltas);
    }

    // The receiver's input is cut off from the serial line in loopback.
    private void FillReceiveFifo()
    {
        if (Loopback)
            return;
        while (_hostInput.Count > 0 && _receiveFifo.Count < ReceiveCapacity)
            _receiveFifo.Enqueue(_hostInput.Dequeue());
    }

    private byte InterruptIdentification()
    {
        byte fifoBits = _fifoEnabled ? IirFifosEnabled : (byte)0;
        if ((_ier & IerLineStatus) != 0 && (_lineErrors & LsrErrors) != 0)
            return (byte)(fifoBits | IirLineStatus);
        if ((_ier & IerReceivedData) != 0 && _receiveFifo.Count > 0)
        {
            // Below the trigger level a real FIFO raises the timeout after four character times of quiet;
            // host input arrives all at once, so the quiet is already there.
            bool triggered = !_fifoEnabled || _receiveFifo.Count >= _triggerLevel;
            return (byte)(fifoBits | (triggered ? IirReceivedData : IirCharacterTimeout));
        }
        if ((_ier & IerThrEmpty) != 0 && _thrEmptyPending)
            return (byte)(fifoBits | IirThrEmpty);
        if ((_ier & IerModemStatus) != 0 && (_msr & 0x0F) != 0)
            return (byte)(fifoBits | IirModemStatus);
        return (byte)(fifoBits | IirNoInterrupt);
    }

    // On the PC the UART's interrupt reaches the PIC only through OUT2, which loopback forces inactive.
    private void UpdateInterrupt()
    {
        bool pending = (InterruptIdentification() & IirNoInterrupt) == 0;
        _interrupt.Set(pending && (_mcr & McrOut2) != 0 && !Loopback);
    }
}
