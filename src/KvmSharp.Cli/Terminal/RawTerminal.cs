using System.Runtime.InteropServices;

namespace KvmSharp.Cli.Terminal;

/// <summary>
/// Puts a terminal into raw mode (no echo, no line editing, no signal keys, no
/// output translation: every key goes to the guest, whose own tty does all of
/// that) and restores the saved settings when disposed, when the process exits
/// or on SIGTERM/SIGHUP. termios is handled as an opaque buffer filled by
/// tcgetattr and changed only by cfmakeraw, so its layout never matters here.
/// </summary>
internal sealed partial class RawTerminal : IDisposable
{
    private const int TcsaNow = 0;
    // glibc's struct termios is 60 bytes on x86-64; room to spare for other C libraries.
    private const int TermiosBufferSize = 256;

    private readonly int _fd;
    private readonly byte[] _saved = new byte[TermiosBufferSize];
    private readonly PosixSignalRegistration[] _signals;
    private int _restored;

    private RawTerminal(int fd)
    {
        _fd = fd;
        if (tcgetattr(fd, _saved) != 0)
            throw new IOException($"Cannot read the terminal settings of file descriptor {fd} (errno {Marshal.GetLastPInvokeError()}).");
        var raw = (byte[])_saved.Clone();
        cfmakeraw(raw);
        if (tcsetattr(fd, TcsaNow, raw) != 0)
            throw new IOException($"Cannot put file descriptor {fd} into raw mode (errno {Marshal.GetLastPInvokeError()}).");
        AppDomain.CurrentDomain.ProcessExit += OnProcessExit;
        _signals =
        [
            PosixSignalRegistration.Create(PosixSignal.SIGTERM, _ => Restore()),
            PosixSignalRegistration.Create(PosixSignal.SIGHUP, _ => Restore()),
        ];
    }

    public static bool IsTerminal(int fd) => isatty(fd) == 1;

    /// <summary>Raw mode on <paramref name="fd"/> if it is a terminal; null (nothing to undo) otherwise.</summary>
    public static RawTerminal? TryEnter(int fd) => IsTerminal(fd) ? new RawTerminal(fd) : null;

    private void OnProcessExit(object? sender, EventArgs e) => Restore();

    private void Restore()
    {
        if (Interlocked.Exchange(ref _restored, 1) == 0)
            _ = tcsetattr(_fd, TcsaNow, _saved);
    }

    public void Dispose()
    {
        Restore();
        AppDomain.CurrentDomain.ProcessExit -= OnProcessExit;
        foreach (var signal in _signals)
            signal.Dispose();
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int tcgetattr(int fd, [Out] byte[] termios);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int tcsetattr(int fd, int optionalActions, [In] byte[] termios);

    [LibraryImport("libc")]
    private static partial void cfmakeraw([In, Out] byte[] termios);

    [LibraryImport("libc")]
    private static partial int isatty(int fd);
}
