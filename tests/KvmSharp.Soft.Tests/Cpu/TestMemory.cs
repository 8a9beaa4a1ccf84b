using System.Runtime.InteropServices;
using KvmSharp.Soft.Cpu;

namespace KvmSharp.Soft.Tests.Cpu;

/// <summary>Guest RAM over native memory, with pages that can be declared MMIO or read-only.</summary>
public sealed unsafe class TestMemory : IGuestMemory, IDisposable
{
    private readonly byte* _base;
    public ulong Size { get; }
    public HashSet<ulong> MmioPages { get; } = new();
    public HashSet<ulong> ReadOnlyPages { get; } = new();

    public TestMemory(ulong size)
    {
        Size = size;
        _base = (byte*)NativeMemory.AlignedAlloc((nuint)size, 4096);
        new Span<byte>(_base, checked((int)size)).Clear();
    }

    public byte* GetHostPage(ulong gpaPageAligned, bool write)
    {
        if (gpaPageAligned >= Size || MmioPages.Contains(gpaPageAligned)) return null;
        if (write && ReadOnlyPages.Contains(gpaPageAligned)) return null;
        return _base + gpaPageAligned;
    }

    public Span<byte> Span(ulong address, int length) => new(_base + address, length);

    public void Write(ulong address, ReadOnlySpan<byte> bytes) => bytes.CopyTo(Span(address, bytes.Length));

    public ulong Read64(ulong address) => *(ulong*)(_base + address);
    public uint Read32(ulong address) => *(uint*)(_base + address);
    public ushort Read16(ulong address) => *(ushort*)(_base + address);
    public byte Read8(ulong address) => _base[address];
    public void Write64(ulong address, ulong value) => *(ulong*)(_base + address) = value;
    public void Write32(ulong address, uint value) => *(uint*)(_base + address) = value;
    public void Write16(ulong address, ushort value) => *(ushort*)(_base + address) = value;
    public void Write8(ulong address, byte value) => _base[address] = value;

    public void Dispose() => NativeMemory.AlignedFree(_base);
}
