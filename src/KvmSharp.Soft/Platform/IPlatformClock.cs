namespace KvmSharp.Soft.Platform;

/// <summary>
/// Monotonic time for the timer devices, in nanoseconds. KVM's devices read the
/// host's ktime (CLOCK_MONOTONIC); tests substitute a clock they advance by hand.
/// </summary>
public interface IPlatformClock
{
    long Nanoseconds { get; }
}
