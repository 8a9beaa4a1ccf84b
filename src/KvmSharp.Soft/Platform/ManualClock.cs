namespace KvmSharp.Soft.Platform;

/// <summary>A clock that stands still until told to move.</summary>
public sealed class ManualClock : IPlatformClock
{
    private long _nanoseconds;

    public ManualClock(long start = 0) => _nanoseconds = start;

    public long Nanoseconds => Interlocked.Read(ref _nanoseconds);

    public void Advance(long nanoseconds) => Interlocked.Add(ref _nanoseconds, nanoseconds);

    public void Set(long nanoseconds) => Interlocked.Exchange(ref _nanoseconds, nanoseconds);
}
