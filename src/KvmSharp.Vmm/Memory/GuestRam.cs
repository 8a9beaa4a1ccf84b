using System.Runtime.InteropServices;

namespace KvmSharp.Vmm.Memory;

/// <summary>
/// Guest RAM: anonymous, page-aligned host memory, committed by the host
/// kernel only as the guest touches it, returned when disposed.
/// </summary>
public sealed unsafe partial class GuestRam : IDisposable
{
    private const int ProtRead = 1, ProtWrite = 2, MapPrivate = 0x02, MapAnonymous = 0x20, MapNoReserve = 0x4000;

    public GuestRam(ulong size)
    {
        if (size == 0 || size % 4096 != 0)
            throw new ArgumentException($"Guest RAM must be a non-zero multiple of 4 KiB; {size} bytes is not.", nameof(size));
        nint address = Mmap(0, (nuint)size, ProtRead | ProtWrite, MapPrivate | MapAnonymous | MapNoReserve, -1, 0);
        if (address == -1)
            throw new OutOfMemoryException($"Cannot reserve {size >> 20} MiB of guest RAM (errno {Marshal.GetLastPInvokeError()}).");
        Address = address;
        Size = size;
    }

    public nint Address { get; private set; }

    public ulong Size { get; }

    /// <summary>The RAM as a span (RAM larger than 2 GiB is reached through <see cref="Slice"/>).</summary>
    public Span<byte> Span => new((void*)Address, checked((int)Size));

    public Span<byte> Slice(ulong offset, int length)
    {
        if (offset > Size || (ulong)length > Size - offset)
            throw new ArgumentOutOfRangeException(nameof(offset), $"[{offset:x}, +{length:x}) is outside the {Size:x}-byte guest RAM.");
        return new Span<byte>((byte*)Address + offset, length);
    }

    public void Dispose()
    {
        if (Address != 0)
            Munmap(Address, (nuint)Size);
        Address = 0;
    }

    [LibraryImport("libc", EntryPoint = "mmap", SetLastError = true)]
    private static partial nint Mmap(nint address, nuint length, int protection, int flags, int fd, nint offset);

    [LibraryImport("libc", EntryPoint = "munmap", SetLastError = true)]
    private static partial int Munmap(nint address, nuint length);
}
