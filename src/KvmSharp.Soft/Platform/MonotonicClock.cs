namespace KvmSharp.Soft.Platform;

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
