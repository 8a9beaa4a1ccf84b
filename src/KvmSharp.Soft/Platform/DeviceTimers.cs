namespace KvmSharp.Soft.Platform;

/// <summary>
/// One host thread that runs the timers of a VM's devices: it sleeps until the
/// earliest <see cref="ITimedDevice.NextDeadline"/> (so an idle VM costs no
/// CPU), polls what is due, and re-plans whenever a device says its deadline
/// moved. Sleeps have the host's millisecond granularity; devices catch up on
/// what a late wake-up missed.
/// </summary>
public sealed class DeviceTimers : IDisposable
{
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
                if (delay > 0)
                    Monitor.Wait(_lock, (int)Math.Min((delay + 999_999) / 1_000_000, int.MaxValue));
            }
        }
    }
}
