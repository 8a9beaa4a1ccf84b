using KvmSharp.Soft.Handles;

namespace KvmSharp.Soft.Vm;

/// <summary>
/// One KVM_IRQFD binding: a thread waits on the caller's eventfd and pulses the
/// GSI each time it is signalled, from whichever thread wrote it. A private
/// eventfd stops the wait when the binding is removed.
/// </summary>
internal sealed unsafe class Irqfd : IDisposable
{
    private readonly int _stopFd;
    private readonly Thread _thread;

    public Irqfd(int eventFd, uint gsi, Action<uint> pulse)
    {
        EventFd = eventFd;
        Gsi = gsi;
        _stopFd = Native.Eventfd(0, 0x80000 /* EFD_CLOEXEC */);
        _thread = new Thread(() => Wait(pulse)) { IsBackground = true, Name = $"irqfd {eventFd} -> GSI {gsi}" };
        _thread.Start();
    }

    public int EventFd { get; }
    public uint Gsi { get; }

    private void Wait(Action<uint> pulse)
    {
        var fds = stackalloc Native.PollFd[2];
        ulong counter;
        while (true)
        {
            fds[0] = new Native.PollFd { Fd = EventFd, Events = Native.POLLIN };
            fds[1] = new Native.PollFd { Fd = _stopFd, Events = Native.POLLIN };
            if (Native.Poll(fds, 2, -1) < 0)
                continue; // EINTR: a signal, such as a vCPU kick.
            if (fds[1].Revents != 0)
                return;
            if ((fds[0].Revents & Native.POLLIN) != 0 && Native.Read(EventFd, &counter, sizeof(ulong)) == sizeof(ulong))
                pulse(Gsi);
            else if (fds[0].Revents != 0)
                return; // The caller closed the eventfd: nothing more will come.
        }
    }

    public void Dispose()
    {
        ulong one = 1;
        Native.Write(_stopFd, &one, sizeof(ulong));
        _thread.Join();
        Native.Close(_stopFd);
    }
}
