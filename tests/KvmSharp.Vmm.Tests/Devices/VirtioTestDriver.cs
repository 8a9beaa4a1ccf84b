using System.Buffers.Binary;
using KvmSharp.Vmm.Devices;
using KvmSharp.Vmm.Devices.Virtio;
using R = KvmSharp.Vmm.Devices.Virtio.VirtioMmioRegisters;

namespace KvmSharp.Vmm.Tests.Devices;

/// <summary>
/// Plays a virtio-mmio guest driver against a device on an MMIO bus: registers
/// through the bus, rings and buffers in a fake guest memory. Each queue gets a
/// 64 KiB area; buffers come from a bump allocator above the queues.
/// </summary>
public sealed class VirtioTestDriver
{
    public const ulong WindowBase = 0xD000_0000;
    public const int MemorySize = 4 << 20;
    private const ulong QueueAreaBase = 0x10000, QueueAreaSize = 0x10000, BufferBase = 0x100000;

    private ulong _nextBuffer = BufferBase;

    public VirtioTestDriver(Func<VirtioDevice> createDevice, ulong? claimedRamSize = null)
        : this(createDevice, new FakeGuestMemory(MemorySize, claimedRamSize))
    {
    }

    /// <summary>A driver over any guest memory of at least <see cref="MemorySize"/> bytes from GPA 0.</summary>
    public VirtioTestDriver(Func<VirtioDevice> createDevice, IGuestMemory memory)
    {
        GuestMemory = memory;
        Device = createDevice();
        Transport = new VirtioMmioTransport(Device, memory, Interrupt, (device, message) => Log.Add($"{device}: {message}"));
        Bus.Register(WindowBase, VirtioMmioSlot.DefaultSize, Transport, Device.Name);
    }

    public IGuestMemory GuestMemory { get; }

    /// <summary>The fake memory, for tests that count out-of-range accesses or poke it directly.</summary>
    public FakeGuestMemory Memory => (FakeGuestMemory)GuestMemory;

    /// <summary>The driver's own view of RAM: it may touch any of it.</summary>
    public Span<byte> Ram(ulong address, int length) => GuestMemory.Slice(address, length);

    public RecordingInterruptLine Interrupt { get; } = new();

    public MmioBus Bus { get; } = new();

    public VirtioDevice Device { get; }

    public VirtioMmioTransport Transport { get; }

    public List<string> Log { get; } = [];

    public uint ReadRegister(uint register)
    {
        var data = new byte[4];
        Bus.Read(WindowBase + register, data);
        return BinaryPrimitives.ReadUInt32LittleEndian(data);
    }

    public void WriteRegister(uint register, uint value)
    {
        var data = new byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(data, value);
        Bus.Write(WindowBase + register, data);
    }

    public VirtioStatus Status => (VirtioStatus)ReadRegister(R.Status);

    public ulong DeviceFeatures
    {
        get
        {
            WriteRegister(R.DeviceFeaturesSel, 0);
            ulong low = ReadRegister(R.DeviceFeatures);
            WriteRegister(R.DeviceFeaturesSel, 1);
            return low | ((ulong)ReadRegister(R.DeviceFeatures) << 32);
        }
    }

    public byte[] ReadConfig(uint offset, int length)
    {
        var data = new byte[length];
        Bus.Read(WindowBase + R.Config + offset, data);
        return data;
    }

    /// <summary>The initialization sequence of virtio 1.2 §3.1.1 up to FEATURES_OK; returns the status read back.</summary>
    public VirtioStatus Negotiate(ulong features)
    {
        WriteRegister(R.Status, 0);
        WriteRegister(R.Status, (uint)VirtioStatus.Acknowledge);
        WriteRegister(R.Status, (uint)(VirtioStatus.Acknowledge | VirtioStatus.Driver));
        WriteRegister(R.DriverFeaturesSel, 0);
        WriteRegister(R.DriverFeatures, (uint)features);
        WriteRegister(R.DriverFeaturesSel, 1);
        WriteRegister(R.DriverFeatures, (uint)(features >> 32));
        WriteRegister(R.Status, (uint)(VirtioStatus.Acknowledge | VirtioStatus.Driver | VirtioStatus.FeaturesOk));
        return Status;
    }

    /// <summary>Negotiates VERSION_1 (and indirect descriptors unless told not to), sets up every queue, and sets DRIVER_OK.</summary>
    public TestQueue[] Start(ushort queueSize = 8, bool indirect = true, ulong extraFeatures = 0)
    {
        ulong features = VirtioFeatures.Bit(VirtioFeatures.Version1) | extraFeatures
            | (indirect ? VirtioFeatures.Bit(VirtioFeatures.RingIndirectDescriptors) : 0);
        Assert.True(Negotiate(features).HasFlag(VirtioStatus.FeaturesOk));
        var queues = Enumerable.Range(0, Device.QueueCount).Select(i => SetUpQueue(i, queueSize)).ToArray();
        WriteRegister(R.Status, (uint)(VirtioStatus.Acknowledge | VirtioStatus.Driver | VirtioStatus.FeaturesOk | VirtioStatus.DriverOk));
        Assert.Equal(VirtioStatus.Acknowledge | VirtioStatus.Driver | VirtioStatus.FeaturesOk | VirtioStatus.DriverOk, Status);
        return queues;
    }

    public TestQueue SetUpQueue(int index, ushort size, ulong? descriptors = null, ulong? available = null, ulong? used = null)
    {
        ulong area = QueueAreaBase + (ulong)index * QueueAreaSize;
        var queue = new TestQueue(this, index, size, descriptors ?? area, available ?? area + 0x4000, used ?? area + 0x8000);
        WriteRegister(R.QueueSel, (uint)index);
        Assert.True(ReadRegister(R.QueueNumMax) >= size);
        WriteRegister(R.QueueNum, size);
        WriteRegister(R.QueueDescLow, (uint)queue.Descriptors);
        WriteRegister(R.QueueDescHigh, (uint)(queue.Descriptors >> 32));
        WriteRegister(R.QueueDriverLow, (uint)queue.Available);
        WriteRegister(R.QueueDriverHigh, (uint)(queue.Available >> 32));
        WriteRegister(R.QueueDeviceLow, (uint)queue.Used);
        WriteRegister(R.QueueDeviceHigh, (uint)(queue.Used >> 32));
        WriteRegister(R.QueueReady, 1);
        return queue;
    }

    public ulong Allocate(int length, byte fill = 0)
    {
        ulong address = _nextBuffer;
        _nextBuffer += (ulong)((length + 15) & ~15);
        Ram(address, length).Fill(fill);
        return address;
    }

    public ulong Put(ReadOnlySpan<byte> bytes)
    {
        ulong address = Allocate(bytes.Length);
        bytes.CopyTo(Ram(address, bytes.Length));
        return address;
    }

    public byte[] Get(ulong address, int length) => Ram(address, length).ToArray();

    public void AcknowledgeInterrupts() => WriteRegister(R.InterruptAck, ReadRegister(R.InterruptStatus));

    /// <summary>The device is in DEVICE_NEEDS_RESET, told the driver, and touched nothing outside RAM.</summary>
    public void AssertNeedsReset(string reasonFragment)
    {
        Assert.True(Status.HasFlag(VirtioStatus.DeviceNeedsReset), $"status is {Status}");
        Assert.Equal(R.InterruptConfigChange, ReadRegister(R.InterruptStatus) & R.InterruptConfigChange);
        Assert.True(Interrupt.Level);
        Assert.Contains(reasonFragment, Transport.LastFault, StringComparison.OrdinalIgnoreCase);
        Assert.Contains(Log, line => line.Contains("DEVICE_NEEDS_RESET", StringComparison.Ordinal));
        if (GuestMemory is FakeGuestMemory fake)
            Assert.Equal(0, fake.OutOfRangeAccesses);
        Assert.Equal(R.Magic, ReadRegister(R.MagicValue));
    }
}

public readonly record struct GuestBuffer(ulong Address, uint Length, bool DeviceWritable);

/// <summary>The driver's side of one split queue.</summary>
public sealed class TestQueue(VirtioTestDriver driver, int index, ushort size, ulong descriptors, ulong available, ulong used)
{
    private ushort _nextDescriptor, _availIndex;

    public int Index => index;

    public ushort Size => size;

    public ulong Descriptors => descriptors;

    public ulong Available => available;

    public ulong Used => used;

    private Span<byte> Ram(ulong address, int length) => driver.Ram(address, length);

    public void WriteDescriptor(ulong table, uint slot, ulong address, uint length, ushort flags, ushort next)
    {
        var raw = Ram(table + slot * 16UL, 16);
        BinaryPrimitives.WriteUInt64LittleEndian(raw, address);
        BinaryPrimitives.WriteUInt32LittleEndian(raw[8..], length);
        BinaryPrimitives.WriteUInt16LittleEndian(raw[12..], flags);
        BinaryPrimitives.WriteUInt16LittleEndian(raw[14..], next);
    }

    public void WriteDescriptor(uint slot, ulong address, uint length, ushort flags, ushort next) =>
        WriteDescriptor(descriptors, slot, address, length, flags, next);

    /// <summary>Puts a head in the next available slot and publishes it.</summary>
    public void Publish(ushort head)
    {
        BinaryPrimitives.WriteUInt16LittleEndian(Ram(available + 4 + 2UL * (ushort)(_availIndex % size), 2), head);
        _availIndex++;
        SetAvailableIndex(_availIndex);
    }

    public void SetAvailableIndex(ushort value) => BinaryPrimitives.WriteUInt16LittleEndian(Ram(available + 2, 2), value);

    public void SetAvailableFlags(ushort value) => BinaryPrimitives.WriteUInt16LittleEndian(Ram(available, 2), value);

    /// <summary>Writes the buffers as a chain in free descriptor slots and publishes it; returns its head.</summary>
    public ushort Add(params GuestBuffer[] buffers)
    {
        ushort head = _nextDescriptor;
        for (int i = 0; i < buffers.Length; i++)
        {
            ushort slot = (ushort)(_nextDescriptor++ % size);
            bool last = i == buffers.Length - 1;
            WriteDescriptor(slot, buffers[i].Address, buffers[i].Length,
                (ushort)((buffers[i].DeviceWritable ? VirtqueueFlags.DescriptorWrite : 0) | (last ? 0 : VirtqueueFlags.DescriptorNext)),
                (ushort)(_nextDescriptor % size));
        }
        Publish((ushort)(head % size));
        return (ushort)(head % size);
    }

    /// <summary>Writes the buffers as an indirect table in guest memory, one descriptor pointing at it, and publishes it.</summary>
    public ushort AddIndirect(params GuestBuffer[] buffers)
    {
        ulong table = driver.Allocate(16 * buffers.Length);
        for (int i = 0; i < buffers.Length; i++)
        {
            bool last = i == buffers.Length - 1;
            WriteDescriptor(table, (uint)i, buffers[i].Address, buffers[i].Length,
                (ushort)((buffers[i].DeviceWritable ? VirtqueueFlags.DescriptorWrite : 0) | (last ? 0 : VirtqueueFlags.DescriptorNext)),
                (ushort)(i + 1));
        }
        ushort head = (ushort)(_nextDescriptor++ % size);
        WriteDescriptor(head, table, (uint)(16 * buffers.Length), VirtqueueFlags.DescriptorIndirect, 0);
        Publish(head);
        return head;
    }

    public void Notify() => driver.WriteRegister(VirtioMmioRegisters.QueueNotify, (uint)index);

    public ushort UsedIndex => BinaryPrimitives.ReadUInt16LittleEndian(Ram(used + 2, 2));

    public (uint Id, uint Length) UsedElement(int position)
    {
        var raw = Ram(used + 4 + 8UL * (ushort)(position % size), 8);
        return (BinaryPrimitives.ReadUInt32LittleEndian(raw), BinaryPrimitives.ReadUInt32LittleEndian(raw[4..]));
    }
}
