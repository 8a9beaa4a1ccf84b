namespace KvmSharp.Vmm.Machines;

/// <summary>Why a machine stopped running.</summary>
public enum MachineExitKind
{
    /// <summary>The guest powered off through ACPI.</summary>
    PowerOff,
    /// <summary>The guest asked for a reset (the ACPI reset register, the i8042's reset line). The machine does not restart itself: the embedder (or the user) boots a new one if it wants to.</summary>
    Reboot,
    /// <summary>A vCPU triple-faulted; a real PC would reset, but it almost always means the guest crashed.</summary>
    TripleFault,
    /// <summary>The host stopped it: <see cref="LinuxMachine.Stop"/>, a cancelled token, the user's quit key.</summary>
    Stopped,
    /// <summary>The time limit given to <see cref="LinuxMachine.Run"/> passed.</summary>
    TimedOut,
    /// <summary>A vCPU stopped for a reason the machine cannot handle (an unexpected exit, a failed ioctl).</summary>
    Failed,
}

/// <summary>How a machine's run ended.</summary>
/// <param name="Kind">What ended it.</param>
/// <param name="Reason">One sentence for people, e.g. "vCPU 0 triple-faulted at RIP 0x1000".</param>
public sealed record MachineExit(MachineExitKind Kind, string Reason, TimeSpan WallTime, ExitCounter Exits);
