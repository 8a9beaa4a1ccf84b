namespace KvmSharp.Vmm.Devices.Legacy;

/// <summary>
/// The PC devices Linux expects at fixed ports, registered on a PIO bus: COM1
/// (0x3f8, IRQ 4), the CMOS RTC (0x70–0x71, IRQ 8) and the i8042 (0x60, 0x64).
/// The caller supplies an interrupt line per ISA IRQ and what to do when the
/// guest pulls the reset line.
/// </summary>
public sealed class PcLegacyDevices : IDisposable
{
    public PcLegacyDevices(PioBus bus, Stream serialOutput, Func<int, IInterruptLine> isaIrq, Action resetRequested, TimeProvider? clock = null)
    {
        Com1 = new Uart16550(serialOutput, isaIrq(Uart16550.Com1Irq));
        Rtc = new CmosRtc(clock, isaIrq(CmosRtc.Irq));
        Keyboard = new I8042Controller(resetRequested);
        bus.Register(Uart16550.Com1Port, Uart16550.RegisterCount, Com1, "COM1 (16550A)");
        bus.Register(CmosRtc.IndexPort, CmosRtc.PortCount, Rtc, "CMOS RTC");
        bus.Register(I8042Controller.DataPortAddress, 1, Keyboard.DataPort, "i8042 data");
        bus.Register(I8042Controller.CommandPortAddress, 1, Keyboard.CommandPort, "i8042 status/command");
    }

    public Uart16550 Com1 { get; }

    public CmosRtc Rtc { get; }

    public I8042Controller Keyboard { get; }

    public void Dispose() => Rtc.Dispose();
}
