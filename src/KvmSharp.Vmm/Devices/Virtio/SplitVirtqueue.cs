using System.Buffers.Binary;

namespace KvmSharp.Vmm.Devices.Virtio;

/// <summary>
/// A split virtqueue (virtio 1.2 §2.7) as the device sees it. The device keeps
/// its own copies of the next available and used indices and never reads back
/// what it wrote, and it reads each guest-written value exactly once before
/// checking and using it, so a guest that rewrites the rings concurrently can
/// confuse only itself. Every malformation throws <see cref="VirtqueueFault"/>.
/// </summary>
public sealed class SplitVirtqueue
{
    private const int DescriptorSize = 16;

    /// <summary>
    /// The most entries followed in one indirect table. The spec bounds a chain by
    /// the queue size, but Linux sizes indirect tables by the device's segment
    /// limit even when it got a smaller ring than it asked for; QEMU accepts 1024.
    /// </summary>
    public const int MaxIndirectEntries = 1024;

    private readonly IGuestMemory _memory;
    private ushort _nextAvail, _nextUsed;
    private bool _usedSinceSignal;

    internal SplitVirtqueue(IGuestMemory memory, ushort maxSize)
    {
        _memory = memory;
        MaxSize = maxSize;
    }

    public ushort MaxSize { get; }

    public ushort Size { get; internal set; }

    public bool Ready { get; private set; }

    public ulong DescriptorTable { get; internal set; }

    public ulong AvailableRing { get; internal set; }

    public ulong UsedRing { get; internal set; }

    internal bool IndirectDescriptors { get; set; }

    internal void Reset()
    {
        Ready = false;
        Size = 0;
        DescriptorTable = AvailableRing = UsedRing = 0;
        _nextAvail = _nextUsed = 0;
        _usedSinceSignal = false;
    }

    /// <summary>Checks the layout the driver wrote and starts the queue from index 0.</summary>
    internal void Enable()
    {
        if (Size == 0 || Size > MaxSize || (Size & (Size - 1)) != 0)
            throw new VirtqueueFault($"queue size {Size} is not a power of two between 1 and {MaxSize}");
        CheckRing("descriptor table", DescriptorTable, 16, (ulong)DescriptorSize * Size);
        CheckRing("available ring", AvailableRing, 2, 6 + 2UL * Size);
        CheckRing("used ring", UsedRing, 4, 6 + 8UL * Size);
        _nextAvail = _nextUsed = 0;
        _usedSinceSignal = false;
        Ready = true;
    }

    internal void Disable() => Ready = false;

    private void CheckRing(string name, ulong address, ulong alignment, ulong length)
    {
        if (address % alignment != 0)
            throw new VirtqueueFault($"{name} at 0x{address:x} is not {alignment}-byte aligned");
        if (!_memory.Contains(address, length))
            throw new VirtqueueFault($"{name} [0x{address:x}, +0x{length:x}) is not in guest RAM");
    }

    /// <summary>
    /// Takes the next chain the driver made available, or returns false when
    /// there is none. Throws <see cref="VirtqueueFault"/> if the chain or the
    /// ring is malformed.
    /// </summary>
    public bool TryPop(out DescriptorChain chain)
    {
        chain = null!;
        if (!Ready)
            return false;
        ushort availIndex = ReadUInt16(AvailableRing + 2, "available ring index");
        // The ring entries must be read after the index that published them.
        Interlocked.MemoryBarrier();
        ushort pending = (ushort)(availIndex - _nextAvail);
        if (pending == 0)
            return false;
        if (pending > Size)
            throw new VirtqueueFault($"available index {availIndex} is {pending} entries ahead of the device's {_nextAvail}, more than the queue size {Size}");
        ushort head = ReadUInt16(AvailableRing + 4 + 2UL * (ushort)(_nextAvail % Size), "available ring entry");
        chain = Walk(head);
        _nextAvail++;
        return true;
    }

    private DescriptorChain Walk(ushort head)
    {
        if (head >= Size)
            throw new VirtqueueFault($"chain head {head} is outside the {Size}-entry descriptor table");
        var segments = new List<ChainSegment>();
        ulong table = DescriptorTable;
        uint tableSize = Size;
        bool inIndirectTable = false, sawWritable = false;
        ulong readable = 0, writable = 0;
        // The direct part of a chain may not be longer than the queue (virtio 1.2 §2.7.5.3.1); more means a loop.
        // An indirect table gets a budget of its own entry count on entry.
        int budget = Size;
        uint index = head;
        Span<byte> raw = stackalloc byte[DescriptorSize];
        while (true)
        {
            if (index >= tableSize)
                throw new VirtqueueFault($"descriptor index {index} in the chain from head {head} is outside the {tableSize}-entry {(inIndirectTable ? "indirect" : "descriptor")} table");
            if (--budget < 0)
                throw new VirtqueueFault(inIndirectTable
                    ? $"the indirect table of head {head} chains more than its {tableSize} entries (a loop in its next fields?)"
                    : $"the chain from head {head} is longer than the queue size {Size} (a loop in its next fields?)");
            ReadGuest(table + (ulong)index * DescriptorSize, raw, "descriptor");
            ulong address = BinaryPrimitives.ReadUInt64LittleEndian(raw);
            uint length = BinaryPrimitives.ReadUInt32LittleEndian(raw[8..]);
            ushort flags = BinaryPrimitives.ReadUInt16LittleEndian(raw[12..]);
            ushort next = BinaryPrimitives.ReadUInt16LittleEndian(raw[14..]);

            if ((flags & VirtqueueFlags.DescriptorIndirect) != 0)
            {
                if (!IndirectDescriptors)
                    throw new VirtqueueFault($"descriptor {index} of head {head} is indirect, but VIRTIO_F_INDIRECT_DESC was not negotiated");
                if (inIndirectTable)
                    throw new VirtqueueFault($"indirect table of head {head} refers to another indirect table");
                if ((flags & VirtqueueFlags.DescriptorNext) != 0)
                    throw new VirtqueueFault($"descriptor {index} of head {head} has both INDIRECT and NEXT");
                if (length == 0 || length % DescriptorSize != 0)
                    throw new VirtqueueFault($"indirect table of head {head} is {length} bytes, not a non-zero multiple of {DescriptorSize}");
                CheckBuffer(head, address, length);
                table = address;
                tableSize = length / DescriptorSize;
                if (tableSize > Math.Max(MaxIndirectEntries, (int)Size))
                    throw new VirtqueueFault($"indirect table of head {head} has {tableSize} entries, more than the {Math.Max(MaxIndirectEntries, (int)Size)} accepted");
                // Within a table, visiting more entries than it has means a loop.
                budget = (int)tableSize;
                inIndirectTable = true;
                index = 0;
                continue;
            }

            bool deviceWritable = (flags & VirtqueueFlags.DescriptorWrite) != 0;
            if (!deviceWritable && sawWritable)
                throw new VirtqueueFault($"chain from head {head} has a device-readable descriptor after a device-writable one");
            sawWritable |= deviceWritable;
            CheckBuffer(head, address, length);
            if (deviceWritable)
                writable += length;
            else
                readable += length;
            // Drivers must not add a chain longer than 2^32 bytes in total (virtio 1.2 §2.7.5.2).
            if (readable + writable > uint.MaxValue)
                throw new VirtqueueFault($"chain from head {head} holds 4 GiB or more of buffers");
            if (length > 0)
                segments.Add(new ChainSegment(address, length, deviceWritable));
            if ((flags & VirtqueueFlags.DescriptorNext) == 0)
                break;
            index = next;
        }
        return new DescriptorChain(_memory, head, segments, (uint)readable, (uint)writable);
    }

    private void CheckBuffer(ushort head, ulong address, uint length)
    {
        if (length != 0 && address > ulong.MaxValue - (length - 1))
            throw new VirtqueueFault($"buffer of head {head} at 0x{address:x} with length 0x{length:x} wraps around the address space");
        if (!_memory.Contains(address, length))
            throw new VirtqueueFault($"buffer of head {head} [0x{address:x}, +0x{length:x}) is not in guest RAM");
    }

    /// <summary>Returns a chain to the driver, with the number of bytes the device wrote into it.</summary>
    public void Complete(DescriptorChain chain, uint writtenLength)
    {
        if (writtenLength > chain.WritableLength)
            throw new InvalidOperationException($"The device claims {writtenLength} bytes written into a chain with {chain.WritableLength} writable bytes.");
        Span<byte> element = stackalloc byte[8];
        BinaryPrimitives.WriteUInt32LittleEndian(element, chain.Head);
        BinaryPrimitives.WriteUInt32LittleEndian(element[4..], writtenLength);
        WriteGuest(UsedRing + 4 + 8UL * (ushort)(_nextUsed % Size), element, "used ring entry");
        // The driver may read the element as soon as it sees the new index.
        Interlocked.MemoryBarrier();
        _nextUsed++;
        Span<byte> index = stackalloc byte[2];
        BinaryPrimitives.WriteUInt16LittleEndian(index, _nextUsed);
        WriteGuest(UsedRing + 2, index, "used ring index");
        _usedSinceSignal = true;
    }

    /// <summary>True once after chains were completed, unless the driver asked not to be interrupted.</summary>
    internal bool TakeInterruptNeeded()
    {
        if (!_usedSinceSignal || !Ready)
            return false;
        _usedSinceSignal = false;
        Interlocked.MemoryBarrier();
        ushort flags = ReadUInt16(AvailableRing, "available ring flags");
        return (flags & VirtqueueFlags.AvailNoInterrupt) == 0;
    }

    private ushort ReadUInt16(ulong address, string what)
    {
        Span<byte> value = stackalloc byte[2];
        ReadGuest(address, value, what);
        return BinaryPrimitives.ReadUInt16LittleEndian(value);
    }

    private void ReadGuest(ulong address, Span<byte> destination, string what)
    {
        if (!_memory.Contains(address, (ulong)destination.Length))
            throw new VirtqueueFault($"{what} at 0x{address:x} is not in guest RAM");
        _memory.Slice(address, destination.Length).CopyTo(destination);
    }

    private void WriteGuest(ulong address, ReadOnlySpan<byte> source, string what)
    {
        if (!_memory.Contains(address, (ulong)source.Length))
            throw new VirtqueueFault($"{what} at 0x{address:x} is not in guest RAM");
        source.CopyTo(_memory.Slice(address, source.Length));
    }
}
