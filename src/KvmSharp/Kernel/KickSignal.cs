using System.Runtime.InteropServices;

namespace KvmSharp.Kernel;

/// <summary>
/// The signal that interrupts a thread blocked in KVM_RUN, as VMMs do to kick
/// a vCPU: a real-time signal whose handler does nothing, so its only effect
/// is that the ioctl returns EINTR. SA_RESTART keeps other system calls on the
/// thread from failing.
/// </summary>
internal static unsafe partial class KickSignal
{
    private const int SaRestart = 0x10000000;
    private const int ProtRead = 1, ProtWrite = 2, ProtExec = 4, MapPrivate = 0x02, MapAnonymous = 0x20;
    private static readonly Lock s_lock = new();
    private static int s_signal;

    /// <summary>glibc's struct sigaction on x86-64.</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct SigAction
    {
        public nint Handler;
        public fixed ulong Mask[16];
        public int Flags;
        public nint Restorer;
    }

    /// <summary>The signal number, with its handler installed on first use.</summary>
    public static int Number
    {
        get
        {
            lock (s_lock)
            {
                if (s_signal == 0)
                    s_signal = Install();
                return s_signal;
            }
        }
    }

    public static void Send(int threadId)
    {
        if (threadId != 0)
            Tgkill(Getpid(), threadId, Number);
    }

    private static int Install()
    {
        // SIGRTMIN itself is the .NET runtime's; a few above it are free.
        int signal = LibcCurrentSigrtmin() + 6;
        // A handler of one instruction, RET: code the runtime cannot supply as a
        // managed delegate, because a signal may arrive anywhere.
        nint page = Mmap(0, 4096, ProtRead | ProtWrite, MapPrivate | MapAnonymous, -1, 0);
        if (page == -1)
            throw new InvalidOperationException($"Cannot map the kick signal's handler (errno {Marshal.GetLastPInvokeError()}).");
        *(byte*)page = 0xC3;
        Mprotect(page, 4096, ProtRead | ProtExec);
        var action = new SigAction { Handler = page, Flags = SaRestart };
        if (Sigaction(signal, &action, null) != 0)
            throw new InvalidOperationException($"Cannot install the kick signal handler (errno {Marshal.GetLastPInvokeError()}).");
        return signal;
    }

    [LibraryImport("libc", EntryPoint = "__libc_current_sigrtmin")]
    private static partial int LibcCurrentSigrtmin();

    [LibraryImport("libc", EntryPoint = "sigaction", SetLastError = true)]
    private static partial int Sigaction(int signal, SigAction* action, SigAction* old);

    [LibraryImport("libc", EntryPoint = "mmap", SetLastError = true)]
    private static partial nint Mmap(nint address, nuint length, int protection, int flags, int fd, nint offset);

    [LibraryImport("libc", EntryPoint = "mprotect", SetLastError = true)]
    private static partial int Mprotect(nint address, nuint length, int protection);

    [LibraryImport("libc", EntryPoint = "tgkill", SetLastError = true)]
    private static partial int Tgkill(int processId, int threadId, int signal);

    [LibraryImport("libc", EntryPoint = "getpid")]
    private static partial int Getpid();

    [LibraryImport("libc", EntryPoint = "gettid")]
    public static partial int Gettid();
}
