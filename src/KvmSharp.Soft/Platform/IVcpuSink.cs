namespace KvmSharp.Soft.Platform;

/// <summary>
/// The vCPU side of a local APIC: the events that do not go through the
/// maskable interrupt path, and the kick that wakes a halted or running vCPU.
/// Implementations only record and wake: they may be called with the IOAPIC's
/// lock held, so they must not call back into the devices.
/// </summary>
public interface IVcpuSink
{
    /// <summary>Something may be pending: leave HLT, re-check interrupts at the next boundary.</summary>
    void SignalInterrupt();

    void DeliverNmi();

    void DeliverSmi();

    /// <summary>INIT: the vCPU resets into wait-for-SIPI (KVM's MP_STATE_INIT_RECEIVED).</summary>
    void DeliverInit();

    /// <summary>Startup IPI: start at <paramref name="vector"/> * 0x1000 if waiting for SIPI.</summary>
    void DeliverSipi(byte vector);
}
