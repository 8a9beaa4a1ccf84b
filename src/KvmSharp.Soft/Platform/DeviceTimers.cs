using KvmSharp.Soft.Handles;

namespace KvmSharp.Soft.Platform;

/// <summary>
/// One host thread that runs the timers of a VM's devices: it sleeps until the
/// earliest <see cref="ITimedDevice.NextDeadline"/> (so an idle VM costs no
/// CPU), polls what is due, and re-plans whenever a device says its deadline
/// moved. The runtime's waits count whole milliseconds, which merged the ticks
/// of a 1 kHz timer, so the last stretch before a deadline is slept with
/// nanosleep (about 50 µs late at most); devices still catch up on what a late
/// wake-up missed.
/// </summary>
public sealed class DeviceTimers : IDisposable
{
    /// <summary>
    /// Deadlines closer than this are slept precisely, without the lock; a
    /// Wake meanwhile is seen at most this late. Farther ones wait on the lock
    /// until this close, so a moved deadline still wakes the thread at once.
    /// </summary>
    private const long PreciseSleepNanoseconds = 2_000_000;

    private readonly object _lock = new();
    private readonly IPlatformClock _clock;
    private readonly List<ITimedDevice> _devices = [];
    private readonly Thread _thread;
    private long _wakeups;
    private bool _disposed;

    public DeviceTimers(IPlatformClock clock)
    {
        _clock = clock;
        _thread = new Thread(Run) { IsBackground = true, Name = "KvmSharp device timers" };
        _thread.Start();
    }

    public void Add(ITimedDevice device)
    {
        device.DeadlineChanged += Wake;
        lock (_lock)
            _devices.Add(device);
        Wake();
    }

    public void Remove(ITimedDevice device)
    {
        device.DeadlineChanged -= Wake;
        lock (_lock)
            _devices.Remove(device);
        Wake();
    }

    public void Dispose()
    {
        lock (_lock)
        {
            _disposed = true;
            Monitor.PulseAll(_lock);
        }
        _thread.Join();
    }

    private void Wake()
    {
        lock (_lock)
        {
            _wakeups++;
            Monitor.PulseAll(_lock);
        }
    }

    private void Run()
    {
        while (true)
        {
            ITimedDevice[] devices;
            long seen;
            lock (_lock)
            {
                if (_disposed)
                    return;
                devices = [.. _devices];
                seen = _wakeups;
            }
            // Polling happens outside the lock: it raises interrupts, which may
            // move deadlines and call back into Wake.
            long next = long.MaxValue;
            foreach (var device in devices)
            {
                if (device.NextDeadline <= _clock.Nanoseconds)
                    device.PollTimers();
                next = Math.Min(next, device.NextDeadline);
            }
            lock (_lock)
            {
                if (_disposed)
                    return;
                if (_wakeups != seen)
                    continue;
                if (next == long.MaxValue)
                {
                    Monitor.Wait(_lock);
                    continue;
                }
                long delay = next - _clock.Nanoseconds;
                if (delay >= PreciseSleepNanoseconds)
                {
                    // Truncating wakes before the deadline: the next turn sleeps the rest precisely.
                    Monitor.Wait(_lock, (int)Math.Min((delay - PreciseSleepNanoseconds / 2) / 1_000_000, int.MaxValue));
                    continue;
                }
            }
            Native.SleepNanoseconds(next - _clock.Nanoseconds);
        }
    }
}
