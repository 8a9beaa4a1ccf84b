using KvmSharp.Vmm.Devices.Virtio;
using R = KvmSharp.Vmm.Devices.Virtio.VirtioMmioRegisters;
using F = KvmSharp.Vmm.Devices.Virtio.VirtqueueFlags;

namespace KvmSharp.Vmm.Tests.Devices;

/// <summary>
/// A guest that lies: every malformed queue puts the device into
/// DEVICE_NEEDS_RESET with a config-change interrupt and a logged reason, the
/// bus goes on answering, and nothing outside guest RAM is asked for.
/// </summary>
public sealed class HostileQueueTests : IDisposable
{
    private const ushort QueueSize = 8;
    private readonly string _image = Path.Combine(Path.GetTempPath(), $"kvmsharp-hostile-{Guid.NewGuid():n}.img");
    private readonly List<IDisposable> _disposables = [];

    public HostileQueueTests() => File.WriteAllBytes(_image, new byte[16 * 512]);

    public void Dispose()
    {
        foreach (var d in _disposables)
            d.Dispose();
        File.Delete(_image);
    }

    private (VirtioTestDriver, TestQueue) Rng(bool indirect = true)
    {
        var driver = new VirtioTestDriver(() => new VirtioRng());
        return (driver, driver.Start(QueueSize, indirect)[0]);
    }

    private (VirtioTestDriver, TestQueue) Block()
    {
        var driver = new VirtioTestDriver(() =>
        {
            var disk = new VirtioBlock(_image, readOnly: false);
            _disposables.Add(disk);
            return disk;
        });
        return (driver, driver.Start(QueueSize)[0]);
    }

    [Fact]
    public void ALoopInTheNextFields()
    {
        var (driver, queue) = Rng();
        ulong buffer = driver.Allocate(16);
        queue.WriteDescriptor(0, buffer, 16, F.DescriptorWrite | F.DescriptorNext, 1);
        queue.WriteDescriptor(1, buffer, 16, F.DescriptorWrite | F.DescriptorNext, 0);
        queue.Publish(0);
        queue.Notify();

        driver.AssertNeedsReset("loop");
        Assert.Equal(0, queue.UsedIndex);
    }

    [Fact]
    public void ADescriptorPointingAtItself()
    {
        var (driver, queue) = Rng();
        queue.WriteDescriptor(3, driver.Allocate(16), 16, F.DescriptorWrite | F.DescriptorNext, 3);
        queue.Publish(3);
        queue.Notify();

        driver.AssertNeedsReset("loop");
    }

    [Fact]
    public void AHeadOutsideTheTable()
    {
        var (driver, queue) = Rng();
        queue.Publish(QueueSize);
        queue.Notify();

        driver.AssertNeedsReset("head 8");
    }

    [Fact]
    public void ANextIndexOutsideTheTable()
    {
        var (driver, queue) = Rng();
        queue.WriteDescriptor(0, driver.Allocate(16), 16, F.DescriptorWrite | F.DescriptorNext, 0xFFFF);
        queue.Publish(0);
        queue.Notify();

        driver.AssertNeedsReset("outside the 8-entry");
    }

    [Fact]
    public void AnAvailableIndexTooFarAhead()
    {
        var (driver, queue) = Rng();
        queue.SetAvailableIndex(QueueSize + 1);
        queue.Notify();

        driver.AssertNeedsReset("more than the queue size");
    }

    [Theory]
    [InlineData(VirtioTestDriver.MemorySize, 1u)]
    [InlineData(VirtioTestDriver.MemorySize - 8, 16u)]
    [InlineData(0x1_0000_0000UL, 16u)]
    [InlineData(ulong.MaxValue - 7, 8u)]
    public void ABufferOutsideRam(ulong address, uint length)
    {
        var (driver, queue) = Rng();
        queue.Add(new GuestBuffer(address, length, true));
        queue.Notify();

        driver.AssertNeedsReset("not in guest RAM");
    }

    [Fact]
    public void ALengthThatWrapsTheAddressSpace()
    {
        var (driver, queue) = Rng();
        queue.Add(new GuestBuffer(ulong.MaxValue - 0xF, 0x20, true));
        queue.Notify();

        driver.AssertNeedsReset("wraps");
    }

    [Fact]
    public void BuffersTotallingFourGibibytes()
    {
        // Only a guest with more than 4 GiB of RAM can build this chain; the fake claims 16 GiB.
        var driver = new VirtioTestDriver(() => new VirtioRng(), claimedRamSize: 16UL << 30);
        var queue = driver.Start(QueueSize)[0];
        queue.Add(new GuestBuffer(0x1_0000_0000, uint.MaxValue, true), new GuestBuffer(0x2_0000_0000, 1, true));
        queue.Notify();

        driver.AssertNeedsReset("4 GiB");
    }

    [Fact]
    public void AReadableBufferForTheRng()
    {
        var (driver, queue) = Rng();
        queue.Add(new GuestBuffer(driver.Allocate(16), 16, false));
        queue.Notify();

        driver.AssertNeedsReset("device-readable");
    }

    [Fact]
    public void AReadableDescriptorAfterAWritableOne()
    {
        var (driver, queue) = Rng();
        queue.Add(new GuestBuffer(driver.Allocate(16), 16, true), new GuestBuffer(driver.Allocate(16), 16, false));
        queue.Notify();

        driver.AssertNeedsReset("after a device-writable");
    }

    [Fact]
    public void AnIndirectDescriptorWithoutTheFeature()
    {
        var (driver, queue) = Rng(indirect: false);
        queue.AddIndirect(new GuestBuffer(driver.Allocate(16), 16, true));
        queue.Notify();

        driver.AssertNeedsReset("not negotiated");
    }

    [Fact]
    public void AnIndirectTableInsideAnIndirectTable()
    {
        var (driver, queue) = Rng();
        ulong inner = driver.Allocate(16), outer = driver.Allocate(16);
        queue.WriteDescriptor(inner, 0, driver.Allocate(16), 16, F.DescriptorWrite, 0);
        queue.WriteDescriptor(outer, 0, inner, 16, F.DescriptorIndirect, 0);
        queue.WriteDescriptor(0, outer, 16, F.DescriptorIndirect, 0);
        queue.Publish(0);
        queue.Notify();

        driver.AssertNeedsReset("another indirect");
    }

    [Fact]
    public void AnIndirectDescriptorWithNext()
    {
        var (driver, queue) = Rng();
        ulong table = driver.Allocate(16);
        queue.WriteDescriptor(table, 0, driver.Allocate(16), 16, F.DescriptorWrite, 0);
        queue.WriteDescriptor(0, table, 16, F.DescriptorIndirect | F.DescriptorNext, 1);
        queue.WriteDescriptor(1, driver.Allocate(16), 16, F.DescriptorWrite, 0);
        queue.Publish(0);
        queue.Notify();

        driver.AssertNeedsReset("both INDIRECT and NEXT");
    }

    [Theory]
    [InlineData(0u)]
    [InlineData(24u)]
    public void AnIndirectTableWithABadLength(uint length)
    {
        var (driver, queue) = Rng();
        queue.WriteDescriptor(0, driver.Allocate(32), length, F.DescriptorIndirect, 0);
        queue.Publish(0);
        queue.Notify();

        driver.AssertNeedsReset("multiple of 16");
    }

    [Fact]
    public void AnIndirectTableOutsideRam()
    {
        var (driver, queue) = Rng();
        queue.WriteDescriptor(0, VirtioTestDriver.MemorySize - 16, 32, F.DescriptorIndirect, 0);
        queue.Publish(0);
        queue.Notify();

        driver.AssertNeedsReset("not in guest RAM");
    }

    [Fact]
    public void AnIndirectTableLargerThanAnyDriverBuilds()
    {
        var (driver, queue) = Rng();
        queue.WriteDescriptor(0, driver.Allocate(16), 16 * 1025, F.DescriptorIndirect, 0);
        queue.Publish(0);
        queue.Notify();

        driver.AssertNeedsReset("1025 entries");
    }

    [Fact]
    public void AnIndirectTableLongerThanTheQueueIsServed()
    {
        // Linux builds tables by the device's segment limit even on a ring smaller than it asked for.
        var (driver, queue) = Rng();
        var buffers = Enumerable.Range(0, 3 * QueueSize).Select(_ => new GuestBuffer(driver.Allocate(8), 8, true)).ToArray();
        queue.AddIndirect(buffers);
        queue.Notify();

        Assert.Equal(1, queue.UsedIndex);
        Assert.Equal(8u * 3 * QueueSize, queue.UsedElement(0).Length);
        Assert.False(driver.Status.HasFlag(VirtioStatus.DeviceNeedsReset));
    }

    [Fact]
    public void ALoopInsideAnIndirectTable()
    {
        var (driver, queue) = Rng();
        ulong table = driver.Allocate(32), buffer = driver.Allocate(16);
        queue.WriteDescriptor(table, 0, buffer, 16, F.DescriptorWrite | F.DescriptorNext, 1);
        queue.WriteDescriptor(table, 1, buffer, 16, F.DescriptorWrite | F.DescriptorNext, 0);
        queue.WriteDescriptor(0, table, 32, F.DescriptorIndirect, 0);
        queue.Publish(0);
        queue.Notify();

        driver.AssertNeedsReset("loop");
    }

    [Fact]
    public void ABlockHeaderInAWritableDescriptor()
    {
        var (driver, queue) = Block();
        queue.Add(new GuestBuffer(driver.Allocate(16), 16, true), new GuestBuffer(driver.Allocate(1), 1, true));
        queue.Notify();

        driver.AssertNeedsReset("16-byte header");
    }

    [Fact]
    public void ABlockRequestWithoutAStatusByte()
    {
        var (driver, queue) = Block();
        queue.Add(new GuestBuffer(driver.Allocate(16), 16, false));
        queue.Notify();

        driver.AssertNeedsReset("status");
    }

    [Fact]
    public void ABlockReadIntoDeviceReadableBuffers()
    {
        var (driver, queue) = Block();
        ulong header = driver.Allocate(16); // type 0: IN
        queue.Add(new GuestBuffer(header, 16, false), new GuestBuffer(driver.Allocate(512), 512, false), new GuestBuffer(driver.Allocate(1), 1, true));
        queue.Notify();

        driver.AssertNeedsReset("must be device-writable");
    }

    [Fact]
    public void ABlockWriteFromDeviceWritableBuffers()
    {
        var (driver, queue) = Block();
        ulong header = driver.Allocate(16);
        driver.Memory.Ram[header] = (byte)VirtioBlock.RequestOut;
        queue.Add(new GuestBuffer(header, 16, false), new GuestBuffer(driver.Allocate(512), 512, true), new GuestBuffer(driver.Allocate(1), 1, true));
        queue.Notify();

        driver.AssertNeedsReset("must be device-readable");
        Assert.All(File.ReadAllBytes(_image), b => Assert.Equal(0, b));
    }

    [Fact]
    public void ARingOutsideRamIsRefusedWhenTheQueueIsMadeReady()
    {
        var driver = new VirtioTestDriver(() => new VirtioRng());
        driver.Negotiate(VirtioFeatures.Bit(VirtioFeatures.Version1));
        driver.SetUpQueue(0, QueueSize, used: VirtioTestDriver.MemorySize - 8);

        Assert.True(driver.Status.HasFlag(VirtioStatus.DeviceNeedsReset));
        Assert.Contains("used ring", driver.Transport.LastFault);
        Assert.Equal(0u, driver.ReadRegister(R.QueueReady));
        Assert.Equal(0, driver.Memory.OutOfRangeAccesses);
    }

    [Theory]
    [InlineData(QueueSize, 0x10001UL, 0x14000UL, 0x18000UL, "aligned")]
    [InlineData(QueueSize, 0x10000UL, 0x14001UL, 0x18000UL, "aligned")]
    [InlineData(QueueSize, 0x10000UL, 0x14000UL, 0x18002UL, "aligned")]
    [InlineData(6, 0x10000UL, 0x14000UL, 0x18000UL, "power of two")]
    public void AMisshapenQueueIsRefusedWhenMadeReady(ushort size, ulong descriptors, ulong available, ulong used, string reason)
    {
        var driver = new VirtioTestDriver(() => new VirtioRng());
        driver.Negotiate(VirtioFeatures.Bit(VirtioFeatures.Version1));
        driver.WriteRegister(R.QueueSel, 0);
        driver.WriteRegister(R.QueueNum, size);
        driver.WriteRegister(R.QueueDescLow, (uint)descriptors);
        driver.WriteRegister(R.QueueDriverLow, (uint)available);
        driver.WriteRegister(R.QueueDeviceLow, (uint)used);
        driver.WriteRegister(R.QueueReady, 1);

        Assert.True(driver.Status.HasFlag(VirtioStatus.DeviceNeedsReset));
        Assert.Contains(reason, driver.Transport.LastFault);
    }

    [Fact]
    public void AQueueLargerThanTheMaximumIsRefused()
    {
        var driver = new VirtioTestDriver(() => new VirtioRng());
        driver.Negotiate(VirtioFeatures.Bit(VirtioFeatures.Version1));
        driver.WriteRegister(R.QueueSel, 0);
        driver.WriteRegister(R.QueueNum, 512);
        driver.WriteRegister(R.QueueReady, 1);

        Assert.True(driver.Status.HasFlag(VirtioStatus.DeviceNeedsReset));
    }

    [Fact]
    public void AfterAFaultTheDeviceIgnoresItsQueuesUntilResetAndThenWorksAgain()
    {
        var (driver, queue) = Rng();
        queue.Publish(QueueSize);
        queue.Notify();
        driver.AssertNeedsReset("head");

        queue.Add(new GuestBuffer(driver.Allocate(16), 16, true));
        queue.Notify();
        Assert.Equal(0, queue.UsedIndex);
        Assert.Equal(1, driver.Transport.FaultCount);

        driver.WriteRegister(R.Status, 0);
        Assert.Equal(VirtioStatus.None, driver.Status);
        Assert.False(driver.Interrupt.Level);
        driver.Memory.Ram.AsSpan(0x10000, 0x10000).Clear();
        var fresh = driver.Start(QueueSize)[0];
        fresh.Add(new GuestBuffer(driver.Allocate(16), 16, true));
        fresh.Notify();
        Assert.Equal(1, fresh.UsedIndex);
        Assert.False(driver.Status.HasFlag(VirtioStatus.DeviceNeedsReset));
    }

    [Fact]
    public void ChainsCompletedBeforeTheFaultStayCompleted()
    {
        var (driver, queue) = Rng();
        queue.Add(new GuestBuffer(driver.Allocate(16), 16, true));
        queue.Publish(QueueSize);
        queue.Notify();

        driver.AssertNeedsReset("head");
        Assert.Equal(1, queue.UsedIndex);
        Assert.Equal(R.InterruptUsedBuffer | R.InterruptConfigChange, driver.ReadRegister(R.InterruptStatus));
    }
}
