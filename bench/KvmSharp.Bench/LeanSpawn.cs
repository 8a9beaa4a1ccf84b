using System.Runtime.InteropServices;
using System.Text;

namespace KvmSharp.Bench;

/// <summary>
/// Runs a program and returns its standard output, through posix_spawn and a
/// pipe. System.Diagnostics.Process would do, but it loads about ten assemblies
/// and starts pool threads, some ninety mappings in all; KVM_CREATE_VM walks every
/// mapping of the calling process, so they would slow the KvmSharp side's VM
/// creation by a cost no real monitor has. The child's stderr is this process's.
/// </summary>
internal static unsafe partial class LeanSpawn
{
    private const int O_CLOEXEC = 0x80000;
    private const int EINTR = 4;

    /// <returns>The exit code, standard output, and the child's CPU time (user + system) in ns.</returns>
    public static (int ExitCode, string Output, double CpuNanoseconds) Run(string program, IReadOnlyList<string> arguments)
    {
        int* pipe = stackalloc int[2];
        if (Pipe2(pipe, O_CLOEXEC) != 0)
            throw Failure("pipe2");
        int readEnd = pipe[0], writeEnd = pipe[1];

        // glibc's posix_spawn_file_actions_t is 80 bytes; leave room.
        byte* actions = stackalloc byte[256];
        var strings = new List<nint>();
        try
        {
            Check(PosixSpawnFileActionsInit(actions), "posix_spawn_file_actions_init");
            Check(PosixSpawnFileActionsAddDup2(actions, writeEnd, 1), "posix_spawn_file_actions_adddup2");

            nint* argv = stackalloc nint[arguments.Count + 2];
            argv[0] = Utf8(program, strings);
            for (int i = 0; i < arguments.Count; i++)
                argv[i + 1] = Utf8(arguments[i], strings);
            argv[arguments.Count + 1] = 0;

            int pid;
            int spawned = PosixSpawn(&pid, argv[0], actions, null, argv, Environ());
            PosixSpawnFileActionsDestroy(actions);
            Close(writeEnd);
            writeEnd = -1;
            if (spawned != 0)
                throw new BenchException($"{program}: posix_spawn: {Marshal.GetPInvokeErrorMessage(spawned)}");

            string output = ReadAll(readEnd);
            int status;
            Rusage usage;
            while (Wait4(pid, &status, 0, &usage) < 0)
                if (Marshal.GetLastPInvokeError() != EINTR)
                    throw Failure("wait4");
            bool exited = (status & 0x7f) == 0;
            return (exited ? (status >> 8) & 0xff : 128 + (status & 0x7f), output, usage.CpuNanoseconds);
        }
        finally
        {
            foreach (nint s in strings)
                NativeMemory.Free((void*)s);
            if (writeEnd >= 0)
                Close(writeEnd);
            Close(readEnd);
        }
    }

    private static string ReadAll(int fd)
    {
        var bytes = new MemoryStream();
        byte* buffer = stackalloc byte[4096];
        while (true)
        {
            nint n = Read(fd, buffer, 4096);
            if (n == 0)
                return Encoding.UTF8.GetString(bytes.GetBuffer(), 0, (int)bytes.Length);
            if (n < 0)
            {
                if (Marshal.GetLastPInvokeError() == EINTR)
                    continue;
                throw Failure("read");
            }
            bytes.Write(new ReadOnlySpan<byte>(buffer, (int)n));
        }
    }

    private static nint Utf8(string text, List<nint> owned)
    {
        int length = Encoding.UTF8.GetByteCount(text);
        var p = (byte*)NativeMemory.Alloc((nuint)length + 1);
        owned.Add((nint)p);
        Encoding.UTF8.GetBytes(text, new Span<byte>(p, length));
        p[length] = 0;
        return (nint)p;
    }

    private static nint* Environ() =>
        *(nint**)NativeLibrary.GetExport(NativeLibrary.Load("libc.so.6"), "environ");

    private static void Check(int result, string call)
    {
        if (result != 0)
            throw new BenchException($"{call}: {Marshal.GetPInvokeErrorMessage(result)}");
    }

    private static BenchException Failure(string call) =>
        new($"{call}: {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}");

    [LibraryImport("libc", EntryPoint = "pipe2", SetLastError = true)]
    private static partial int Pipe2(int* fds, int flags);

    [LibraryImport("libc", EntryPoint = "posix_spawn_file_actions_init")]
    private static partial int PosixSpawnFileActionsInit(byte* actions);

    [LibraryImport("libc", EntryPoint = "posix_spawn_file_actions_adddup2")]
    private static partial int PosixSpawnFileActionsAddDup2(byte* actions, int fd, int newFd);

    [LibraryImport("libc", EntryPoint = "posix_spawn_file_actions_destroy")]
    private static partial int PosixSpawnFileActionsDestroy(byte* actions);

    // posix_spawn returns the error number instead of setting errno.
    [LibraryImport("libc", EntryPoint = "posix_spawn")]
    private static partial int PosixSpawn(int* pid, nint path, byte* actions, void* attributes, nint* argv, nint* envp);

    [LibraryImport("libc", EntryPoint = "read", SetLastError = true)]
    private static partial nint Read(int fd, byte* buffer, nuint count);

    [LibraryImport("libc", EntryPoint = "wait4", SetLastError = true)]
    private static partial int Wait4(int pid, int* status, int options, Rusage* usage);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    private static partial int Close(int fd);
}

/// <summary>struct rusage (x86-64): the two times lead, the rest is 14 longs.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct Rusage
{
    public long UserSeconds, UserMicroseconds, SystemSeconds, SystemMicroseconds;
    public fixed long Rest[14];

    public readonly double CpuNanoseconds =>
        (UserSeconds + SystemSeconds) * 1e9 + (UserMicroseconds + SystemMicroseconds) * 1e3;
}

/// <summary>The calling thread's CPU time, as getrusage(RUSAGE_THREAD) gives it.</summary>
internal static unsafe partial class ThreadCpu
{
    private const int RUSAGE_THREAD = 1;

    public static double Nanoseconds()
    {
        Rusage usage;
        if (GetRusage(RUSAGE_THREAD, &usage) != 0)
            throw new BenchException($"getrusage: {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}");
        return usage.CpuNanoseconds;
    }

    [LibraryImport("libc", EntryPoint = "getrusage", SetLastError = true)]
    private static partial int GetRusage(int who, Rusage* usage);
}
