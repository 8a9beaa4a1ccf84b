using System.Runtime.InteropServices;

namespace KvmSharp.Bench;

/// <summary>
/// Guest RAM obtained exactly as the C peer obtains it (anonymous, private,
/// MAP_NORESERVE), so that both sides pay the same page faults and slot costs.
/// </summary>
internal sealed unsafe partial class AnonymousMemory : IDisposable
{
    private const int PROT_READ = 0x1, PROT_WRITE = 0x2;
    private const int MAP_PRIVATE = 0x02, MAP_ANONYMOUS = 0x20, MAP_NORESERVE = 0x4000;

    private AnonymousMemory(nint address, ulong size)
    {
        Address = address;
        Size = size;
    }

    public nint Address { get; private set; }

    public ulong Size { get; }

    public static AnonymousMemory Map(ulong size)
    {
        nint address = Mmap(0, (nuint)size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (address == -1)
            throw new BenchException($"mmap of {size} bytes of guest memory: {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}");
        return new AnonymousMemory(address, size);
    }

    public void Write(ulong offset, ReadOnlySpan<byte> bytes)
    {
        if (offset > Size || (ulong)bytes.Length > Size - offset)
            throw new ArgumentOutOfRangeException(nameof(offset), $"{bytes.Length} bytes at 0x{offset:x} do not fit in {Size} bytes of guest memory.");
        bytes.CopyTo(new Span<byte>((byte*)Address + offset, bytes.Length));
    }

    public void Dispose()
    {
        if (Address == 0)
            return;
        if (Munmap(Address, (nuint)Size) != 0)
            throw new BenchException($"munmap of guest memory: {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}");
        Address = 0;
    }

    [LibraryImport("libc", EntryPoint = "mmap", SetLastError = true)]
    private static partial nint Mmap(nint address, nuint length, int protection, int flags, int fd, nint offset);

    [LibraryImport("libc", EntryPoint = "munmap", SetLastError = true)]
    private static partial int Munmap(nint address, nuint length);
}

/// <summary>A benchmark that could not run as specified (an unexpected exit, a failed peer…).</summary>
internal sealed class BenchException(string message) : Exception(message);
