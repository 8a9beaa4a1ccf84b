using System.Runtime.InteropServices;

namespace KvmSharp.Soft.Handles;

/// <summary>The libc calls Soft needs to give its objects real descriptors and mappable run blocks.</summary>
internal static partial class Native
{
    private const string Library = "libc";
    public const int MFD_CLOEXEC = 0x0001;
    public const int PROT_READ = 0x1, PROT_WRITE = 0x2;
    public const int MAP_SHARED = 0x01;
    public static readonly nint MAP_FAILED = -1;

    [LibraryImport(Library, EntryPoint = "memfd_create", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int MemfdCreate(string name, int flags);

    [LibraryImport(Library, EntryPoint = "ftruncate", SetLastError = true)]
    public static partial int Ftruncate(int fd, long length);

    [LibraryImport(Library, EntryPoint = "mmap", SetLastError = true)]
    public static partial nint Mmap(nint address, nuint length, int protection, int flags, int fd, nint offset);

    [LibraryImport(Library, EntryPoint = "munmap", SetLastError = true)]
    public static partial int Munmap(nint address, nuint length);

    [LibraryImport(Library, EntryPoint = "close", SetLastError = true)]
    public static partial int Close(int fd);

    /// <summary>Whether [address, address+length) is mapped in this process (mincore answers ENOMEM for holes).</summary>
    [LibraryImport(Library, EntryPoint = "mincore", SetLastError = true)]
    public static unsafe partial int Mincore(nint address, nuint length, byte* vector);
}

internal static partial class Native
{
    public const short POLLIN = 0x001;

    [StructLayout(LayoutKind.Sequential)]
    public struct PollFd
    {
        public int Fd;
        public short Events;
        public short Revents;
    }

    [LibraryImport(Library, EntryPoint = "poll", SetLastError = true)]
    public static unsafe partial int Poll(PollFd* fds, nuint count, int timeoutMilliseconds);

    [LibraryImport(Library, EntryPoint = "read", SetLastError = true)]
    public static unsafe partial nint Read(int fd, void* buffer, nuint count);

    [LibraryImport(Library, EntryPoint = "write", SetLastError = true)]
    public static unsafe partial nint Write(int fd, void* buffer, nuint count);

    [LibraryImport(Library, EntryPoint = "eventfd", SetLastError = true)]
    public static partial int Eventfd(uint initialValue, int flags);

    [LibraryImport(Library, EntryPoint = "fcntl", SetLastError = true)]
    public static partial int Fcntl(int fd, int command);
}
