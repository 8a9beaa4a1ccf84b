using System.Runtime.InteropServices;

namespace KvmSharp.Tests;

/// <summary>A Linux eventfd for irqfd and ioeventfd tests.</summary>
public sealed partial class EventFd : IDisposable
{
    public EventFd()
    {
        Fd = eventfd(0, 0x80000 /* EFD_CLOEXEC */);
        if (Fd < 0)
            throw new InvalidOperationException($"eventfd failed with errno {Marshal.GetLastPInvokeError()}.");
    }

    public int Fd { get; private set; }

    public void Dispose()
    {
        if (Fd >= 0)
            close(Fd);
        Fd = -1;
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int eventfd(uint initval, int flags);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int close(int fd);
}
