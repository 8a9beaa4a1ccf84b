namespace KvmSharp.Soft.Platform;

/// <summary>
/// Monotonic time for the timer devices, in nanoseconds. KVM's devices read the
/// host's ktime (CLOCK_MONOTONIC); tests substitute a clock they advance by hand.
/// </summary>
public interface IPlatformClock
{
    long Nanoseconds { get; }
}

/// <summary>The host's monotonic clock, the time base KVM stamps device state with.</summary>
public sealed class MonotonicClock : IPlatformClock
{
    public static readonly MonotonicClock Instance = new();

    public long Nanoseconds
    {
        get
        {
            long ticks = System.Diagnostics.Stopwatch.GetTimestamp();
            long frequency = System.Diagnostics.Stopwatch.Frequency;
            return (long)((Int128)ticks * 1_000_000_000 / frequency);
        }
    }
}

/// <summary>A clock that stands still until told to move.</summary>
public sealed class ManualClock : IPlatformClock
{
    private long _nanoseconds;

    public ManualClock(long start = 0) => _nanoseconds = start;

    public long Nanoseconds => Interlocked.Read(ref _nanoseconds);

    public void Advance(long nanoseconds) => Interlocked.Add(ref _nanoseconds, nanoseconds);

    public void Set(long nanoseconds) => Interlocked.Exchange(ref _nanoseconds, nanoseconds);
}
