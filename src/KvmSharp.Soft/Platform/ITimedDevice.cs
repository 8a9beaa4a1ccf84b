namespace KvmSharp.Soft.Platform;

/// <summary>
/// A device whose timers the owner drives: devices keep no threads of their own,
/// so the kernel can run them from one timer thread (or a test from its fake clock).
/// </summary>
public interface ITimedDevice
{
    /// <summary>When <see cref="PollTimers"/> next has work, in clock nanoseconds; <see cref="long.MaxValue"/> when no timer runs.</summary>
    long NextDeadline { get; }

    /// <summary>Raises whatever the timers owe at the clock's current time.</summary>
    void PollTimers();

    /// <summary>Raised (outside any device lock) when <see cref="NextDeadline"/> may have moved earlier.</summary>
    event Action? DeadlineChanged;
}
