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
