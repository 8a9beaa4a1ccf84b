namespace KvmSharp.Vmm.Devices.Legacy;

/// <summary>
/// The PC keyboard controller at ports 0x60 (data) and 0x64 (status/command),
/// with no keyboard or mouse behind it: enough for Linux's probe (self-test,
/// reading and writing the command byte, enabling and disabling the ports) and
/// for the reset line, which the controller's 0xFE command (or an output-port
/// write with bit 0 clear) pulses; that calls the reset callback. Register
/// <see cref="DataPort"/> at 0x60 and <see cref="CommandPort"/> at 0x64.
/// </summary>
public sealed class I8042Controller
{
    public const ushort DataPortAddress = 0x60, CommandPortAddress = 0x64;

    public const byte StatusOutputFull = 0x01, StatusSystemFlag = 0x04, StatusCommand = 0x08, StatusUnlocked = 0x10, StatusAuxData = 0x20;
    public const byte CtrKeyboardInterrupt = 0x01, CtrAuxInterrupt = 0x02, CtrSystemFlag = 0x04, CtrKeyboardDisabled = 0x10, CtrAuxDisabled = 0x20, CtrTranslate = 0x40;

    public const byte CommandReadCtr = 0x20, CommandWriteCtr = 0x60, CommandDisableAux = 0xA7, CommandEnableAux = 0xA8, CommandTestAux = 0xA9;
    public const byte CommandSelfTest = 0xAA, CommandTestKeyboard = 0xAB, CommandDisableKeyboard = 0xAD, CommandEnableKeyboard = 0xAE;
    public const byte CommandReadOutputPort = 0xD0, CommandWriteOutputPort = 0xD1, CommandWriteKeyboardBuffer = 0xD2, CommandWriteAuxBuffer = 0xD3, CommandWriteAux = 0xD4;
    public const byte CommandPulseReset = 0xFE;
    public const byte SelfTestPassed = 0x55, InterfaceTestPassed = 0x00;

    private const byte OutputPortResetDeasserted = 0x01, OutputPortA20 = 0x02;

    private readonly object _lock = new();
    private readonly Action _resetRequested;
    private readonly Queue<(byte Value, bool Aux)> _output = new();
    private byte _ctr = CtrKeyboardInterrupt | CtrSystemFlag | CtrTranslate;
    private byte _outputPort = OutputPortResetDeasserted | OutputPortA20;
    private byte _pendingCommand, _lastData;
    private bool _lastWriteWasCommand;

    public I8042Controller(Action resetRequested)
    {
        _resetRequested = resetRequested;
        DataPort = new Port(this, isCommandPort: false);
        CommandPort = new Port(this, isCommandPort: true);
    }

    public IBusDevice DataPort { get; }

    public IBusDevice CommandPort { get; }

    /// <summary>How many times the guest pulsed the reset line.</summary>
    public int ResetRequests { get; private set; }

    private sealed class Port(I8042Controller controller, bool isCommandPort) : IBusDevice
    {
        public void Read(ulong offset, Span<byte> data)
        {
            if (data.IsEmpty)
                return;
            data.Fill(0xFF);
            data[0] = isCommandPort ? controller.ReadStatus() : controller.ReadData();
        }

        public void Write(ulong offset, ReadOnlySpan<byte> data)
        {
            if (data.IsEmpty)
                return;
            bool reset = isCommandPort ? controller.WriteCommand(data[0]) : controller.WriteData(data[0]);
            if (reset)
                controller._resetRequested();
        }
    }

    private byte ReadStatus()
    {
        lock (_lock)
        {
            byte status = StatusUnlocked;
            if ((_ctr & CtrSystemFlag) != 0)
                status |= StatusSystemFlag;
            if (_lastWriteWasCommand)
                status |= StatusCommand;
            if (_output.TryPeek(out var next))
                status |= (byte)(StatusOutputFull | (next.Aux ? StatusAuxData : 0));
            return status;
        }
    }

    // Reading an empty output buffer returns the last byte again, as the chip does.
    private byte ReadData()
    {
        lock (_lock)
        {
            if (_output.TryDequeue(out var next))
                _lastData = next.Value;
            return _lastData;
        }
    }

    private bool WriteCommand(byte command)
    {
        lock (_lock)
        {
            _lastWriteWasCommand = true;
            _pendingCommand = 0;
            if (command >= 0xF0)
                return PulseOutputLines(command);
            switch (command)
            {
                case CommandReadCtr: Respond(_ctr); break;
                case CommandDisableAux: _ctr |= CtrAuxDisabled; break;
                case CommandEnableAux: _ctr &= unchecked((byte)~CtrAuxDisabled); break;
                case CommandTestAux: Respond(InterfaceTestPassed); break;
                case CommandSelfTest: _ctr |= CtrSystemFlag; Respond(SelfTestPassed); break;
                case CommandTestKeyboard: Respond(InterfaceTestPassed); break;
                case CommandDisableKeyboard: _ctr |= CtrKeyboardDisabled; break;
                case CommandEnableKeyboard: _ctr &= unchecked((byte)~CtrKeyboardDisabled); break;
                case CommandReadOutputPort: Respond(_outputPort); break;
                case CommandWriteCtr or CommandWriteOutputPort or CommandWriteKeyboardBuffer or CommandWriteAuxBuffer or CommandWriteAux:
                    _pendingCommand = command;
                    break;
                default:
                    break; // Vendor commands: nothing answers, as on a controller that lacks them.
            }
            return false;
        }
    }

    private bool WriteData(byte value)
    {
        lock (_lock)
        {
            _lastWriteWasCommand = false;
            byte command = _pendingCommand;
            _pendingCommand = 0;
            switch (command)
            {
                case CommandWriteCtr:
                    _ctr = value;
                    return false;
                case CommandWriteOutputPort:
                    _outputPort = value;
                    if ((value & OutputPortResetDeasserted) == 0)
                    {
                        _outputPort |= OutputPortResetDeasserted;
                        ResetRequests++;
                        return true;
                    }
                    return false;
                case CommandWriteKeyboardBuffer:
                    Respond(value);
                    return false;
                case CommandWriteAuxBuffer:
                    Respond(value, aux: true);
                    return false;
                default:
                    return false; // Bytes for the keyboard or mouse, and there is neither.
            }
        }
    }

    // Commands 0xF0–0xFF pulse the output-port lines whose bits are clear in the low nibble; bit 0 is the CPU reset.
    private bool PulseOutputLines(byte command)
    {
        if ((command & 0x01) != 0)
            return false;
        ResetRequests++;
        return true;
    }

    private void Respond(byte value, bool aux = false) => _output.Enqueue((value, aux));
}
