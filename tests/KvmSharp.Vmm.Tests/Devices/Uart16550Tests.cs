using KvmSharp.Vmm.Devices;
using KvmSharp.Vmm.Devices.Legacy;
using static KvmSharp.Vmm.Devices.Legacy.Uart16550;

namespace KvmSharp.Vmm.Tests.Devices;

public class Uart16550Tests
{
    private const ushort Thr = Com1Port, Ier = Com1Port + 1, Iir = Com1Port + 2, Fcr = Com1Port + 2, Lcr = Com1Port + 3, Mcr = Com1Port + 4, Lsr = Com1Port + 5, Msr = Com1Port + 6, Scr = Com1Port + 7;

    private readonly MemoryStream _output = new();
    private readonly RecordingInterruptLine _irq = new();
    private readonly Uart16550 _uart;
    private readonly PioBus _bus = new();

    public Uart16550Tests()
    {
        _uart = new Uart16550(_output, _irq);
        _bus.Register(Com1Port, RegisterCount, _uart, "COM1");
    }

    private byte In(ushort port)
    {
        var data = new byte[1];
        _bus.Read(port, data);
        return data[0];
    }

    private void Out(ushort port, byte value) => _bus.Write(port, [value]);

    [Fact]
    public void AtResetNothingIsPendingTheTransmitterIsEmptyAndTheTerminalIsReady()
    {
        Assert.Equal(IirNoInterrupt, In(Iir));
        Assert.Equal(LsrThrEmpty | LsrTransmitterEmpty, In(Lsr));
        Assert.Equal(MsrDcd | MsrDsr | MsrCts, In(Msr));
        Assert.False(_irq.Level);
    }

    [Fact]
    public void BytesWrittenToThrReachTheOutputStream()
    {
        foreach (byte b in "hi\n"u8)
            Out(Thr, b);

        Assert.Equal("hi\n"u8.ToArray(), _output.ToArray());
    }

    [Fact]
    public void IerKeepsItsFourBitsAsLinuxsProbeExpects()
    {
        Out(Ier, 0xFF);
        Assert.Equal(0x0F, In(Ier));
        Out(Ier, 0);
        Assert.Equal(0, In(Ier));
    }

    [Fact]
    public void DlabSwitchesOffsetsZeroAndOneToTheDivisorLatch()
    {
        Out(Ier, IerReceivedData);
        Out(Lcr, LcrDlab | 0x03);
        Out(Thr, 0x01);
        Out(Ier, 0x00);

        Assert.Equal(0x01, In(Thr));
        Assert.Equal(0x00, In(Ier));
        Assert.Empty(_output.ToArray());
        Out(Lcr, 0x03);
        Assert.Equal(IerReceivedData, In(Ier));
    }

    [Fact]
    public void ScratchRegisterHoldsAByte()
    {
        Out(Scr, 0xA5);
        Assert.Equal(0xA5, In(Scr));
    }

    [Fact]
    public void ThrEmptyInterruptIsRaisedWhenEnabledAndClearedByReadingIir()
    {
        Out(Mcr, McrOut2);
        Out(Ier, IerThrEmpty);

        Assert.True(_irq.Level);
        Assert.Equal(IirThrEmpty, In(Iir));
        Assert.False(_irq.Level);
        Assert.Equal(IirNoInterrupt, In(Iir));

        Out(Thr, (byte)'x');
        Assert.True(_irq.Level);
        Assert.Equal(IirThrEmpty, In(Iir));
    }

    [Fact]
    public void TheInterruptReachesTheLineOnlyThroughOut2()
    {
        Out(Ier, IerThrEmpty);
        Assert.False(_irq.Level);
        Out(Mcr, McrOut2);
        Assert.True(_irq.Level);
        Out(Mcr, 0);
        Assert.False(_irq.Level);
    }

    [Fact]
    public void LoopbackWiresTheModemOutputsToTheInputsAndThrToRbr()
    {
        // Linux's 8250 probe: MCR = LOOP | OUT2 | RTS must read back CTS | DCD in MSR's top nibble.
        Out(Mcr, McrLoop | McrOut2 | McrRts);
        Assert.Equal(MsrDcd | MsrCts, In(Msr) & 0xF0);

        Out(Thr, 0x42);
        Assert.Equal(LsrDataReady, In(Lsr) & LsrDataReady);
        Assert.Equal(0x42, In(Thr));
        Assert.Equal(0, In(Lsr) & LsrDataReady);
        Assert.Empty(_output.ToArray());

        Out(Mcr, McrLoop | McrDtr | McrOut1);
        Assert.Equal(MsrDsr | MsrRi, In(Msr) & 0xF0);
    }

    [Fact]
    public void ModemStatusDeltasAreReportedOnceAndRaiseTheModemInterrupt()
    {
        Out(Mcr, McrLoop | McrRts);
        In(Msr);
        Out(Ier, IerModemStatus);

        Out(Mcr, McrLoop);
        Assert.Equal(IirModemStatus, In(Iir));
        Assert.Equal(MsrDeltaCts, In(Msr));
        Assert.Equal(0, In(Msr));
        Assert.Equal(IirNoInterrupt, In(Iir));

        Out(Mcr, McrLoop | McrOut1);
        In(Msr);
        Out(Mcr, McrLoop);
        Assert.Equal(MsrTrailingEdgeRi, In(Msr) & MsrTrailingEdgeRi);
    }

    [Fact]
    public void InterruptIdentificationFollowsTheDatasheetPriorities()
    {
        Out(Fcr, FcrEnable | 0x40); // trigger level 4
        Out(Mcr, McrLoop | McrRts);
        Out(Ier, IerReceivedData | IerThrEmpty | IerLineStatus | IerModemStatus);
        // Seventeen bytes into a sixteen-byte FIFO: an overrun.
        for (int i = 0; i < 17; i++)
            Out(Thr, (byte)i);

        Assert.Equal(IirFifosEnabled | IirLineStatus, In(Iir));
        Assert.Equal(LsrOverrun | LsrDataReady, In(Lsr) & (LsrOverrun | LsrDataReady));
        Assert.Equal(IirFifosEnabled | IirReceivedData, In(Iir));
        for (int i = 0; i < 13; i++)
            Assert.Equal(i, In(Thr));
        // Three bytes left, under the trigger level: the character timeout.
        Assert.Equal(IirFifosEnabled | IirCharacterTimeout, In(Iir));
        for (int i = 13; i < 16; i++)
            Assert.Equal(i, In(Thr));
        Assert.Equal(IirFifosEnabled | IirThrEmpty, In(Iir));
        Assert.Equal(IirFifosEnabled | IirModemStatus, In(Iir));
        In(Msr);
        Assert.Equal(IirFifosEnabled | IirNoInterrupt, In(Iir));
    }

    [Fact]
    public void FifoControlClearsTheReceiveFifo()
    {
        Out(Fcr, FcrEnable);
        Out(Mcr, McrLoop);
        Out(Thr, 1);
        Out(Thr, 2);

        Out(Fcr, FcrEnable | FcrClearReceive);

        Assert.Equal(0, In(Lsr) & LsrDataReady);
    }

    [Fact]
    public void WithoutFifosTheReceiverHoldsOneByteAndASecondOverruns()
    {
        Out(Mcr, McrLoop);
        Out(Thr, 1);
        Out(Thr, 2);

        Assert.Equal(LsrOverrun | LsrDataReady, In(Lsr) & (LsrOverrun | LsrDataReady));
        Assert.Equal(0, In(Lsr) & LsrOverrun);
        Assert.Equal(1, In(Thr));
    }

    [Fact]
    public void HostInputIsDeliveredInOrderWithoutOverrunAndInterruptsUntilDrained()
    {
        Out(Fcr, FcrEnable | 0xC0); // trigger level 14
        Out(Mcr, McrOut2);
        Out(Ier, IerReceivedData);
        var text = "a line longer than sixteen bytes\n"u8.ToArray();

        _uart.Receive(text);

        Assert.True(_irq.Level);
        Assert.Equal(IirFifosEnabled | IirReceivedData, In(Iir));
        var received = new List<byte>();
        while ((In(Lsr) & LsrDataReady) != 0)
        {
            Assert.Equal(0, In(Lsr) & LsrOverrun);
            received.Add(In(Thr));
        }
        Assert.Equal(text, received.ToArray());
        Assert.False(_irq.Level);
        Assert.Equal(IirFifosEnabled | IirNoInterrupt, In(Iir));
    }

    [Fact]
    public void HostInputWaitsWhileInLoopback()
    {
        Out(Mcr, McrLoop);
        _uart.Receive("k"u8);
        Assert.Equal(0, In(Lsr) & LsrDataReady);

        Out(Mcr, 0);
        Assert.Equal((byte)'k', In(Thr));
    }

    [Fact]
    public void AClosedOutputStreamLosesBytesButNeverThrowsIntoTheVcpu()
    {
        _output.Dispose();

        Out(Thr, 1);

        Assert.Equal(1, _uart.DroppedOutputBytes);
    }

    /// <summary>
    /// The checks Linux's 8250 autoconfiguration makes, in its order, with the
    /// answers that make it settle on a plain 16550A (not a 16650, 16750, NS
    /// SuperIO or XScale UART).
    /// </summary>
    [Fact]
    public void LinuxsAutoconfigurationSeesA16550A()
    {
        // The IER scratch test.
        Out(Ier, 0);
        Assert.Equal(0, In(Ier) & 0x0F);
        Out(Ier, 0x0F);
        Assert.Equal(0x0F, In(Ier) & 0x0F);
        Out(Ier, 0);
        // The loopback test.
        Out(Mcr, McrLoop | 0x0A);
        Assert.Equal(0x90, In(Msr) & 0xF0);
        Out(Mcr, 0);
        // Zeroing a 16650's EFR, which shares the FCR's address; on a 16550A that is an FCR write.
        Out(Lcr, 0xBF);
        Out(Fcr, 0);
        // FIFOs present and working: IIR bits 7:6 read 3.
        Out(Lcr, 0);
        Out(Fcr, FcrEnable);
        Assert.Equal(3, In(Iir) >> 6);
        // No EFR behind LCR 0x80 or 0xBF.
        Out(Lcr, 0x80);
        Assert.NotEqual(0, In(Iir));
        Out(Lcr, 0xBF);
        Assert.NotEqual(0, In(Iir));
        // No National Semiconductor EXCR1 that mirrors MCR's LOOP bit.
        Out(Lcr, 0);
        byte mcr = In(Mcr);
        Out(Lcr, 0xE0);
        Assert.Equal(0, (In(Iir) ^ mcr) & McrLoop);
        Out(Lcr, 0);
        // No 64-byte FIFO (TI16750): IIR bit 5 stays clear with or without DLAB.
        Out(Fcr, FcrEnable | 0x20);
        Assert.Equal(6, In(Iir) >> 5);
        Out(Lcr, 0x80);
        Out(Fcr, FcrEnable | 0x20);
        Assert.Equal(6, In(Iir) >> 5);
        Out(Lcr, 0);
        // No UART Unit Enable bit (XScale): IER bit 6 does not stick.
        Out(Ier, 0x40);
        Assert.Equal(0, In(Ier) & 0x40);
        // The LSR safety check at startup.
        Assert.NotEqual(0xFF, In(Lsr));
    }
}
