namespace KvmSharp.Soft.Platform;

/// <summary>
/// What the CPU asks at an instruction boundary with interrupts enabled: the
/// vector to take now, acknowledged (INTA) as it is handed over. Mirrors
/// KvmSharp.Soft.Cpu.IInterruptSource so either can adapt to the other.
/// </summary>
public interface IInterruptSource
{
    bool TryAcknowledge(out byte vector);
}

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

/// <summary>Receives local-APIC EOIs: KVM broadcasts each one to the IOAPIC, which clears remote IRR on level pins.</summary>
public interface IEoiListener
{
    void OnEoi(LocalApic source, byte vector, bool levelTriggered);
}
