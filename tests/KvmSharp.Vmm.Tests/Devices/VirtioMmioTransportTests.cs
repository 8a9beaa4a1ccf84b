using KvmSharp.Vmm.Devices.Virtio;
using R = KvmSharp.Vmm.Devices.Virtio.VirtioMmioRegisters;

namespace KvmSharp.Vmm.Tests.Devices;

public class VirtioMmioTransportTests
{
    private readonly VirtioTestDriver _driver = new(() => new VirtioRng());

    private static ulong Bit(int bit) => VirtioFeatures.Bit(bit);

    [Fact]
    public void TheDeviceIdentifiesAsAModernVirtioMmioDevice()
    {
        Assert.Equal(0x74726976u, _driver.ReadRegister(R.MagicValue));
        Assert.Equal(2u, _driver.ReadRegister(R.Version));
        Assert.Equal(VirtioDeviceIds.EntropySource, _driver.ReadRegister(R.DeviceId));
        Assert.Equal(VirtioMmioTransport.KvmSharpVendorId, _driver.ReadRegister(R.VendorId));
    }

    [Fact]
    public void FeaturesAreOfferedInTwoWordsIncludingVersion1AndIndirectDescriptors()
    {
        ulong features = _driver.DeviceFeatures;

        Assert.Equal(Bit(VirtioFeatures.Version1) | Bit(VirtioFeatures.RingIndirectDescriptors), features);
        _driver.WriteRegister(R.DeviceFeaturesSel, 2);
        Assert.Equal(0u, _driver.ReadRegister(R.DeviceFeatures));
    }

    [Fact]
    public void FeaturesOkStaysSetWhenTheDriverAcceptsASubsetWithVersion1()
    {
        var status = _driver.Negotiate(Bit(VirtioFeatures.Version1));

        Assert.Equal(VirtioStatus.Acknowledge | VirtioStatus.Driver | VirtioStatus.FeaturesOk, status);
        Assert.Equal(Bit(VirtioFeatures.Version1), _driver.Transport.NegotiatedFeatures);
    }

    [Fact]
    public void ALegacyDriverWithoutVersion1IsRefusedFeaturesOk()
    {
        var status = _driver.Negotiate(Bit(VirtioFeatures.RingIndirectDescriptors));

        Assert.False(status.HasFlag(VirtioStatus.FeaturesOk));
    }

    [Fact]
    public void FeaturesThatWereNotOfferedAreRefused()
    {
        var status = _driver.Negotiate(Bit(VirtioFeatures.Version1) | Bit(VirtioFeatures.RingEventIndex));

        Assert.False(status.HasFlag(VirtioStatus.FeaturesOk));
    }

    [Fact]
    public void DriverFeaturesCannotChangeAfterFeaturesOk()
    {
        _driver.Negotiate(Bit(VirtioFeatures.Version1));
        _driver.WriteRegister(R.DriverFeaturesSel, 0);
        _driver.WriteRegister(R.DriverFeatures, 1u << VirtioFeatures.RingIndirectDescriptors);

        Assert.Equal(Bit(VirtioFeatures.Version1), _driver.Transport.NegotiatedFeatures);
    }

    [Fact]
    public void DriverOkWithoutFeaturesOkIsIgnored()
    {
        _driver.WriteRegister(R.Status, (uint)(VirtioStatus.Acknowledge | VirtioStatus.Driver));
        _driver.WriteRegister(R.Status, (uint)(VirtioStatus.Acknowledge | VirtioStatus.Driver | VirtioStatus.DriverOk));

        Assert.Equal(VirtioStatus.Acknowledge | VirtioStatus.Driver, _driver.Status);
    }

    [Fact]
    public void StatusBitsCannotBeClearedExceptByReset()
    {
        _driver.Negotiate(Bit(VirtioFeatures.Version1));
        _driver.WriteRegister(R.Status, (uint)VirtioStatus.Acknowledge);

        Assert.Equal(VirtioStatus.Acknowledge | VirtioStatus.Driver | VirtioStatus.FeaturesOk, _driver.Status);
    }

    [Fact]
    public void ResetClearsStatusFeaturesQueuesAndInterrupts()
    {
        var queue = _driver.Start()[0];
        queue.Add(new GuestBuffer(_driver.Allocate(16), 16, true));
        queue.Notify();
        Assert.True(_driver.Interrupt.Level);

        _driver.WriteRegister(R.Status, 0);

        Assert.Equal(VirtioStatus.None, _driver.Status);
        Assert.Equal(0UL, _driver.Transport.NegotiatedFeatures);
        Assert.Equal(0u, _driver.ReadRegister(R.InterruptStatus));
        Assert.False(_driver.Interrupt.Level);
        _driver.WriteRegister(R.QueueSel, 0);
        Assert.Equal(0u, _driver.ReadRegister(R.QueueReady));
        Assert.Equal(0u, _driver.ReadRegister(R.QueueDescLow));
    }

    [Fact]
    public void QueueRegistersReadBackAndAbsentQueuesHaveNoSize()
    {
        _driver.Negotiate(Bit(VirtioFeatures.Version1));
        var queue = _driver.SetUpQueue(0, 16);
        _driver.WriteRegister(R.QueueSel, 0);

        Assert.Equal(256u, _driver.ReadRegister(R.QueueNumMax));
        Assert.Equal(16u, _driver.ReadRegister(R.QueueNum));
        Assert.Equal(1u, _driver.ReadRegister(R.QueueReady));
        Assert.Equal((uint)queue.Available, _driver.ReadRegister(R.QueueDriverLow));
        _driver.WriteRegister(R.QueueSel, 1);
        Assert.Equal(0u, _driver.ReadRegister(R.QueueNumMax));
    }

    [Fact]
    public void AReadyQueueCannotBeMoved()
    {
        _driver.Negotiate(Bit(VirtioFeatures.Version1));
        var queue = _driver.SetUpQueue(0, 8);

        _driver.WriteRegister(R.QueueDescLow, 0x20_0000);
        _driver.WriteRegister(R.QueueNum, 4);

        Assert.Equal((uint)queue.Descriptors, _driver.ReadRegister(R.QueueDescLow));
        Assert.Equal(8u, _driver.ReadRegister(R.QueueNum));
    }

    [Fact]
    public void NothingIsProcessedBeforeDriverOk()
    {
        _driver.Negotiate(Bit(VirtioFeatures.Version1));
        var queue = _driver.SetUpQueue(0, 8);
        queue.Add(new GuestBuffer(_driver.Allocate(16), 16, true));
        queue.Notify();
        Assert.Equal(0, queue.UsedIndex);

        // Setting DRIVER_OK picks up what was already made available.
        _driver.WriteRegister(R.Status, (uint)(VirtioStatus.Acknowledge | VirtioStatus.Driver | VirtioStatus.FeaturesOk | VirtioStatus.DriverOk));
        Assert.Equal(1, queue.UsedIndex);
    }

    [Fact]
    public void CompletionRaisesTheUsedBufferInterruptUntilAcknowledged()
    {
        var queue = _driver.Start()[0];
        queue.Add(new GuestBuffer(_driver.Allocate(16), 16, true));
        queue.Notify();

        Assert.Equal(R.InterruptUsedBuffer, _driver.ReadRegister(R.InterruptStatus));
        Assert.True(_driver.Interrupt.Level);
        _driver.WriteRegister(R.InterruptAck, R.InterruptUsedBuffer);
        Assert.Equal(0u, _driver.ReadRegister(R.InterruptStatus));
        Assert.False(_driver.Interrupt.Level);
    }

    [Fact]
    public void TheDriverCanAskNotToBeInterrupted()
    {
        var queue = _driver.Start()[0];
        queue.SetAvailableFlags(VirtqueueFlags.AvailNoInterrupt);
        queue.Add(new GuestBuffer(_driver.Allocate(16), 16, true));
        queue.Notify();

        Assert.Equal(1, queue.UsedIndex);
        Assert.False(_driver.Interrupt.Level);
    }

    [Fact]
    public void MisalignedOrNarrowRegisterAccessesAreIgnored()
    {
        var data = new byte[2];
        _driver.Bus.Read(VirtioTestDriver.WindowBase + R.MagicValue, data);
        _driver.Bus.Write(VirtioTestDriver.WindowBase + R.Status + 1, [1, 0, 0, 0]);

        Assert.Equal(new byte[2], data);
        Assert.Equal(VirtioStatus.None, _driver.Status);
    }

    [Fact]
    public void NotifyingAQueueThatDoesNotExistChangesNothing()
    {
        _driver.Start();
        _driver.WriteRegister(R.QueueNotify, 7);

        Assert.False(_driver.Status.HasFlag(VirtioStatus.DeviceNeedsReset));
    }

    [Fact]
    public void TheQueueRingsAroundItsSizeAndTheSixteenBitIndexWraps()
    {
        var queue = _driver.Start(queueSize: 4)[0];
        ulong buffer = _driver.Allocate(8);
        for (int i = 0; i < 70_000; i++)
        {
            queue.Add(new GuestBuffer(buffer, 8, true));
            queue.Notify();
        }

        Assert.Equal(unchecked((ushort)70_000), queue.UsedIndex);
        Assert.Equal(0, _driver.Memory.OutOfRangeAccesses);
        Assert.False(_driver.Status.HasFlag(VirtioStatus.DeviceNeedsReset));
    }

    [Fact]
    public void TheKernelParameterNamesSizeBaseAndIrq()
    {
        Assert.Equal("virtio_mmio.device=4K@0xd0000000:5", VirtioMmioSlot.Nth(0).KernelParameter);
        Assert.Equal("virtio_mmio.device=4K@0xd0002000:7", VirtioMmioSlot.Nth(2).KernelParameter);
        Assert.Equal("virtio_mmio.device=0x200@0xfeb00000:12", new VirtioMmioSlot(0xFEB0_0000, 0x200, 12).KernelParameter);
    }
}
