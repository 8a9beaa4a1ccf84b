using KvmSharp.Vmm.Devices;
using KvmSharp.Vmm.Devices.Legacy;
using static KvmSharp.Vmm.Devices.Legacy.I8042Controller;

namespace KvmSharp.Vmm.Tests.Devices;

public class I8042ControllerTests
{
    private int _resets;
    private readonly I8042Controller _controller;
    private readonly PioBus _bus = new();

    public I8042ControllerTests()
    {
        _controller = new I8042Controller(() => _resets++);
        _bus.Register(DataPortAddress, 1, _controller.DataPort, "i8042 data");
        _bus.Register(CommandPortAddress, 1, _controller.CommandPort, "i8042 command");
    }

    private byte In(ushort port)
    {
        var data = new byte[1];
        _bus.Read(port, data);
        return data[0];
    }

    private void Out(ushort port, byte value) => _bus.Write(port, [value]);

    [Fact]
    public void AnIdleControllerHasAnEmptyOutputBuffer()
    {
        Assert.Equal(0, In(CommandPortAddress) & StatusOutputFull);
        Assert.NotEqual(0xFF, In(CommandPortAddress));
    }

    [Fact]
    public void SelfTestAnswers0x55()
    {
        Out(CommandPortAddress, CommandSelfTest);

        Assert.Equal(StatusOutputFull, In(CommandPortAddress) & StatusOutputFull);
        Assert.Equal(SelfTestPassed, In(DataPortAddress));
        Assert.Equal(0, In(CommandPortAddress) & StatusOutputFull);
    }

    [Fact]
    public void TheCommandByteIsReadAndWritten()
    {
        Out(CommandPortAddress, CommandWriteCtr);
        Out(DataPortAddress, CtrSystemFlag | CtrTranslate | CtrKeyboardDisabled);
        Out(CommandPortAddress, CommandEnableKeyboard);
        Out(CommandPortAddress, CommandDisableAux);
        Out(CommandPortAddress, CommandReadCtr);

        Assert.Equal(CtrSystemFlag | CtrTranslate | CtrAuxDisabled, In(DataPortAddress));
    }

    [Theory]
    [InlineData(CommandTestKeyboard)]
    [InlineData(CommandTestAux)]
    public void PortTestsPass(byte command)
    {
        Out(CommandPortAddress, command);
        Assert.Equal(InterfaceTestPassed, In(DataPortAddress));
    }

    [Fact]
    public void CommandFEPulsesTheResetLine()
    {
        Out(CommandPortAddress, CommandPulseReset);

        Assert.Equal(1, _resets);
        Assert.Equal(1, _controller.ResetRequests);
    }

    [Fact]
    public void PulsingOtherLinesDoesNotReset()
    {
        Out(CommandPortAddress, 0xFF);
        Out(CommandPortAddress, 0xFD);

        Assert.Equal(0, _resets);
    }

    [Fact]
    public void WritingTheOutputPortWithResetAssertedResets()
    {
        Out(CommandPortAddress, CommandWriteOutputPort);
        Out(DataPortAddress, 0xFE);

        Assert.Equal(1, _resets);
    }

    [Fact]
    public void WritesToTheAbsentKeyboardAreDropped()
    {
        Out(DataPortAddress, 0xFF);

        Assert.Equal(0, In(CommandPortAddress) & StatusOutputFull);
        Assert.Equal(0, _resets);
    }

    // Linux's i8042 command helper: wait for an empty input buffer, write, then read each answer once OBF is set.
    private byte Command(byte command, byte? parameter = null, bool expectAnswer = false)
    {
        Assert.Equal(0, In(CommandPortAddress) & 0x02);
        Out(CommandPortAddress, command);
        if (parameter is { } p)
            Out(DataPortAddress, p);
        if (!expectAnswer)
            return 0;
        Assert.Equal(StatusOutputFull, In(CommandPortAddress) & StatusOutputFull);
        return In(DataPortAddress);
    }

    [Fact]
    public void LinuxsProbeWithoutKeyboardOrMouseSucceeds()
    {
        // i8042_flush: a present controller does not report a full buffer forever.
        Assert.Equal(0, In(CommandPortAddress) & StatusOutputFull);
        // i8042_controller_selftest.
        Assert.Equal(SelfTestPassed, Command(CommandSelfTest, expectAnswer: true));
        // i8042_controller_init: two equal CTR reads, keylock not engaged, then the CTR written back.
        byte ctr = Command(CommandReadCtr, expectAnswer: true);
        Assert.Equal(ctr, Command(CommandReadCtr, expectAnswer: true));
        Assert.NotEqual(0, In(CommandPortAddress) & StatusUnlocked);
        ctr = (byte)((ctr | CtrKeyboardDisabled) & ~CtrKeyboardInterrupt);
        Command(CommandWriteCtr, ctr);
        Assert.Equal(ctr, Command(CommandReadCtr, expectAnswer: true));
        Assert.Equal(0, In(CommandPortAddress) & StatusOutputFull);
        Assert.Equal(0, _resets);
    }
}
