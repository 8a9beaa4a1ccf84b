using System.Runtime.InteropServices;

namespace KvmSharp.Tests;

/// <summary>Page-aligned, zeroed host memory to back a guest slot in tests.</summary>
public sealed unsafe class GuestMemory : IDisposable
{
    public GuestMemory(ulong size)
    {
        Size = size;
        Pointer = (nint)NativeMemory.AlignedAlloc((nuint)size, 4096);
        NativeMemory.Clear((void*)Pointer, (nuint)size);
    }

    public nint Pointer { get; private set; }

    public ulong Size { get; }

    public Span<byte> Span => new((void*)Pointer, checked((int)Size));

    public void Write(ulong offset, ReadOnlySpan<byte> bytes) => bytes.CopyTo(Span[(int)offset..]);

    public void Dispose()
    {
        if (Pointer != 0)
            NativeMemory.AlignedFree((void*)Pointer);
        Pointer = 0;
    }
}
