namespace KvmSharp.Vmm.Devices.Virtio;

/// <summary>Device status bits (virtio 1.2 §2.1).</summary>
[Flags]
public enum VirtioStatus : uint
{
    None = 0,
    Acknowledge = 1,
    Driver = 2,
    DriverOk = 4,
    FeaturesOk = 8,
    DeviceNeedsReset = 0x40,
    Failed = 0x80,
}

/// <summary>Device-independent feature bits (virtio 1.2 §6).</summary>
public static class VirtioFeatures
{
    public const int RingIndirectDescriptors = 28;
    public const int RingEventIndex = 29;
    public const int Version1 = 32;

    public static ulong Bit(int bit) => 1UL << bit;
}

/// <summary>Device IDs (virtio 1.2 §5).</summary>
public static class VirtioDeviceIds
{
    public const uint Network = 1, Block = 2, Console = 3, EntropySource = 4;
}

/// <summary>The virtio-mmio register layout, version 2 (virtio 1.2 §4.2.2).</summary>
public static class VirtioMmioRegisters
{
    public const uint MagicValue = 0x000, Version = 0x004, DeviceId = 0x008, VendorId = 0x00C;
    public const uint DeviceFeatures = 0x010, DeviceFeaturesSel = 0x014, DriverFeatures = 0x020, DriverFeaturesSel = 0x024;
    public const uint QueueSel = 0x030, QueueNumMax = 0x034, QueueNum = 0x038, QueueReady = 0x044, QueueNotify = 0x050;
    public const uint InterruptStatus = 0x060, InterruptAck = 0x064, Status = 0x070;
    public const uint QueueDescLow = 0x080, QueueDescHigh = 0x084, QueueDriverLow = 0x090, QueueDriverHigh = 0x094, QueueDeviceLow = 0x0A0, QueueDeviceHigh = 0x0A4;
    public const uint SharedMemorySel = 0x0AC, SharedMemoryLengthLow = 0x0B0, SharedMemoryLengthHigh = 0x0B4, SharedMemoryBaseLow = 0x0B8, SharedMemoryBaseHigh = 0x0BC;
    public const uint ConfigGeneration = 0x0FC, Config = 0x100;

    /// <summary>"virt" in little-endian.</summary>
    public const uint Magic = 0x74726976;
    public const uint ModernVersion = 2;

    public const uint InterruptUsedBuffer = 1, InterruptConfigChange = 2;
}

/// <summary>Split-virtqueue descriptor and ring flags (virtio 1.2 §2.7).</summary>
public static class VirtqueueFlags
{
    public const ushort DescriptorNext = 1, DescriptorWrite = 2, DescriptorIndirect = 4;
    public const ushort AvailNoInterrupt = 1;
}
