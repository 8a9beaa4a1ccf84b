using System.Text;
using Microsoft.Win32.SafeHandles;

namespace KvmSharp.Cli;

/// <summary>
/// The process's stdin, stdout and stderr as plain file streams. System.Console
/// is avoided on purpose: on a terminal its first write switches the terminal
/// into keypad-transmit mode (so arrow keys send ESC O A), which would change
/// the keys a guest receives and outlive the process.
/// </summary>
internal static class StandardStreams
{
    public static FileStream Open(int fd, FileAccess access) => new(new SafeFileHandle(fd, ownsHandle: false), access, bufferSize: 0);

    public static TextWriter Writer(int fd) => new StreamWriter(Open(fd, FileAccess.Write), new UTF8Encoding(encoderShouldEmitUTF8Identifier: false)) { AutoFlush = true };
}
