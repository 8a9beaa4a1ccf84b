using System.Buffers.Binary;
using KvmSharp.Vmm.Devices.Virtio;

namespace KvmSharp.Vmm.Tests.Devices;

public sealed class VirtioBlockTests : IDisposable
{
    private const int DiskSectors = 64;
    private readonly string _image = Path.Combine(Path.GetTempPath(), $"kvmsharp-blk-{Guid.NewGuid():n}.img");
    private readonly List<VirtioBlock> _disks = [];

    public VirtioBlockTests()
    {
        var contents = new byte[DiskSectors * VirtioBlock.SectorSize];
        for (int i = 0; i < contents.Length; i++)
            contents[i] = (byte)(i / VirtioBlock.SectorSize);
        File.WriteAllBytes(_image, contents);
    }

    public void Dispose()
    {
        foreach (var disk in _disks)
            disk.Dispose();
        File.Delete(_image);
    }

    private (VirtioTestDriver Driver, TestQueue Queue) Start(bool readOnly = false, bool negotiateFlush = true)
    {
        var driver = new VirtioTestDriver(() =>
        {
            var disk = new VirtioBlock(_image, readOnly, serial: "kvmsharp-test-disk");
            _disks.Add(disk);
            return disk;
        });
        var queue = driver.Start(extraFeatures: negotiateFlush ? 1UL << VirtioBlock.FeatureFlush : 0)[0];
        return (driver, queue);
    }

    private static byte[] Header(uint type, ulong sector)
    {
        var header = new byte[16];
        BinaryPrimitives.WriteUInt32LittleEndian(header, type);
        BinaryPrimitives.WriteUInt64LittleEndian(header.AsSpan(8), sector);
        return header;
    }

    /// <summary>Submits header, data and status as Linux does: three descriptors; returns the status and the used length.</summary>
    private static (byte Status, uint UsedLength) Submit(VirtioTestDriver driver, TestQueue queue, uint type, ulong sector, ulong data = 0, uint dataLength = 0, bool dataWritable = false)
    {
        ulong header = driver.Put(Header(type, sector));
        ulong status = driver.Allocate(1, fill: 0xEE);
        var buffers = new List<GuestBuffer> { new(header, 16, false) };
        if (dataLength > 0)
            buffers.Add(new GuestBuffer(data, dataLength, dataWritable));
        buffers.Add(new GuestBuffer(status, 1, true));
        ushort before = queue.UsedIndex;
        ushort head = queue.Add([.. buffers]);
        queue.Notify();
        Assert.Equal((ushort)(before + 1), queue.UsedIndex);
        var (id, length) = queue.UsedElement(before);
        Assert.Equal(head, id);
        return (driver.Get(status, 1)[0], length);
    }

    [Fact]
    public void CapacityIsInTheConfigSpaceInSectorsAndFlushIsOffered()
    {
        var (driver, _) = Start();

        Assert.Equal((ulong)DiskSectors, BinaryPrimitives.ReadUInt64LittleEndian(driver.ReadConfig(0, 8)));
        Assert.Equal((uint)DiskSectors, BinaryPrimitives.ReadUInt32LittleEndian(driver.ReadConfig(0, 4)));
        Assert.Equal(0u, BinaryPrimitives.ReadUInt32LittleEndian(driver.ReadConfig(4, 4)));
        Assert.Equal(254u, BinaryPrimitives.ReadUInt32LittleEndian(driver.ReadConfig(12, 4)));
        Assert.NotEqual(0UL, driver.DeviceFeatures & (1UL << VirtioBlock.FeatureSegmentMax));
        Assert.Equal(new byte[8], driver.ReadConfig(0x80, 8));
        Assert.Equal(VirtioDeviceIds.Block, driver.ReadRegister(VirtioMmioRegisters.DeviceId));
        Assert.NotEqual(0UL, driver.DeviceFeatures & (1UL << VirtioBlock.FeatureFlush));
        Assert.Equal(0UL, driver.DeviceFeatures & (1UL << VirtioBlock.FeatureReadOnly));
    }

    [Fact]
    public void ReadsReturnTheImagesSectors()
    {
        var (driver, queue) = Start();
        ulong data = driver.Allocate(2 * VirtioBlock.SectorSize);

        var (status, used) = Submit(driver, queue, VirtioBlock.RequestIn, 5, data, 2 * VirtioBlock.SectorSize, dataWritable: true);

        Assert.Equal(VirtioBlock.StatusOk, status);
        Assert.Equal(2u * VirtioBlock.SectorSize + 1, used);
        var bytes = driver.Get(data, 2 * VirtioBlock.SectorSize);
        Assert.All(bytes.AsSpan(0, VirtioBlock.SectorSize).ToArray(), b => Assert.Equal(5, b));
        Assert.All(bytes.AsSpan(VirtioBlock.SectorSize).ToArray(), b => Assert.Equal(6, b));
    }

    [Fact]
    public void AWriteThenFlushIsOnDiskAndReadsBack()
    {
        var (driver, queue) = Start();
        var payload = Enumerable.Range(0, 3 * VirtioBlock.SectorSize).Select(i => (byte)(i * 7 + 1)).ToArray();
        ulong source = driver.Put(payload);

        Assert.Equal(VirtioBlock.StatusOk, Submit(driver, queue, VirtioBlock.RequestOut, 10, source, (uint)payload.Length).Status);
        Assert.Equal(VirtioBlock.StatusOk, Submit(driver, queue, VirtioBlock.RequestFlush, 0).Status);

        var onDisk = File.ReadAllBytes(_image);
        Assert.Equal(payload, onDisk.AsSpan(10 * VirtioBlock.SectorSize, payload.Length).ToArray());
        Assert.All(onDisk.AsSpan(9 * VirtioBlock.SectorSize, VirtioBlock.SectorSize).ToArray(), b => Assert.Equal(9, b));
        Assert.All(onDisk.AsSpan(13 * VirtioBlock.SectorSize, VirtioBlock.SectorSize).ToArray(), b => Assert.Equal(13, b));

        ulong target = driver.Allocate(payload.Length);
        Assert.Equal(VirtioBlock.StatusOk, Submit(driver, queue, VirtioBlock.RequestIn, 10, target, (uint)payload.Length, dataWritable: true).Status);
        Assert.Equal(payload, driver.Get(target, payload.Length));
    }

    [Fact]
    public void AWriteWithoutNegotiatedFlushIsStillOnDiskAtCompletion()
    {
        var (driver, queue) = Start(negotiateFlush: false);
        ulong source = driver.Allocate(VirtioBlock.SectorSize, fill: 0xA7);

        Assert.Equal(VirtioBlock.StatusOk, Submit(driver, queue, VirtioBlock.RequestOut, 0, source, VirtioBlock.SectorSize).Status);

        Assert.All(File.ReadAllBytes(_image).AsSpan(0, VirtioBlock.SectorSize).ToArray(), b => Assert.Equal(0xA7, b));
    }

    [Fact]
    public void DataMayBeSplitAcrossDescriptorsAndHeadersToo()
    {
        var (driver, queue) = Start();
        var header = Header(VirtioBlock.RequestIn, 2);
        ulong headerA = driver.Put(header.AsSpan(0, 5)), headerB = driver.Put(header.AsSpan(5));
        ulong dataA = driver.Allocate(100), dataB = driver.Allocate(VirtioBlock.SectorSize - 100 + 1);

        queue.Add(new(headerA, 5, false), new(headerB, 11, false), new(dataA, 100, true), new(dataB, VirtioBlock.SectorSize - 100 + 1, true));
        queue.Notify();

        Assert.All(driver.Get(dataA, 100), b => Assert.Equal(2, b));
        Assert.All(driver.Get(dataB, VirtioBlock.SectorSize - 100), b => Assert.Equal(2, b));
        Assert.Equal(VirtioBlock.StatusOk, driver.Get(dataB + VirtioBlock.SectorSize - 100, 1)[0]);
    }

    [Fact]
    public void IndirectRequestsWork()
    {
        var (driver, queue) = Start();
        ulong header = driver.Put(Header(VirtioBlock.RequestIn, 7));
        ulong data = driver.Allocate(VirtioBlock.SectorSize);
        ulong status = driver.Allocate(1, fill: 0xEE);

        queue.AddIndirect(new(header, 16, false), new(data, VirtioBlock.SectorSize, true), new(status, 1, true));
        queue.Notify();

        Assert.Equal(VirtioBlock.StatusOk, driver.Get(status, 1)[0]);
        Assert.All(driver.Get(data, VirtioBlock.SectorSize), b => Assert.Equal(7, b));
    }

    [Fact]
    public void GetIdReturnsTheSerialNulPadded()
    {
        var (driver, queue) = Start();
        ulong id = driver.Allocate(VirtioBlock.IdLength, fill: 0xEE);

        var (status, used) = Submit(driver, queue, VirtioBlock.RequestGetId, 0, id, VirtioBlock.IdLength, dataWritable: true);

        Assert.Equal(VirtioBlock.StatusOk, status);
        Assert.Equal(VirtioBlock.IdLength + 1u, used);
        Assert.Equal("kvmsharp-test-disk\0\0"u8.ToArray(), driver.Get(id, VirtioBlock.IdLength));
    }

    [Theory]
    [InlineData(DiskSectors, 1)]
    [InlineData(DiskSectors - 1, 2)]
    [InlineData(ulong.MaxValue, 1)]
    public void RequestsPastTheEndOfTheDiskFailWithIoError(ulong sector, int sectors)
    {
        var (driver, queue) = Start();
        ulong data = driver.Allocate(sectors * VirtioBlock.SectorSize);

        Assert.Equal(VirtioBlock.StatusIoError, Submit(driver, queue, VirtioBlock.RequestIn, sector, data, (uint)(sectors * VirtioBlock.SectorSize), dataWritable: true).Status);
        Assert.Equal(VirtioBlock.StatusIoError, Submit(driver, queue, VirtioBlock.RequestOut, sector, data, (uint)(sectors * VirtioBlock.SectorSize)).Status);
        Assert.False(driver.Status.HasFlag(VirtioStatus.DeviceNeedsReset));
    }

    [Fact]
    public void PartialSectorsFailWithIoError()
    {
        var (driver, queue) = Start();
        ulong data = driver.Allocate(100);

        Assert.Equal(VirtioBlock.StatusIoError, Submit(driver, queue, VirtioBlock.RequestIn, 0, data, 100, dataWritable: true).Status);
    }

    [Fact]
    public void UnknownRequestTypesAreUnsupported()
    {
        var (driver, queue) = Start();

        Assert.Equal(VirtioBlock.StatusUnsupported, Submit(driver, queue, 11, 0).Status);
    }

    [Fact]
    public void AReadOnlyDiskOffersRoRefusesWritesAndStillReads()
    {
        var before = File.ReadAllBytes(_image);
        var (driver, queue) = Start(readOnly: true);
        Assert.NotEqual(0UL, driver.DeviceFeatures & (1UL << VirtioBlock.FeatureReadOnly));
        ulong source = driver.Allocate(VirtioBlock.SectorSize, fill: 0x55);

        Assert.Equal(VirtioBlock.StatusIoError, Submit(driver, queue, VirtioBlock.RequestOut, 1, source, VirtioBlock.SectorSize).Status);
        Assert.Equal(VirtioBlock.StatusOk, Submit(driver, queue, VirtioBlock.RequestFlush, 0).Status);
        ulong target = driver.Allocate(VirtioBlock.SectorSize);
        Assert.Equal(VirtioBlock.StatusOk, Submit(driver, queue, VirtioBlock.RequestIn, 1, target, VirtioBlock.SectorSize, dataWritable: true).Status);

        Assert.All(driver.Get(target, VirtioBlock.SectorSize), b => Assert.Equal(1, b));
        Assert.Equal(before, File.ReadAllBytes(_image));
    }

    [Fact]
    public void ACompletedWriteIsVisibleToOtherProcessesBeforeAnyFlush()
    {
        // No user-space buffer sits between the guest and the file: once the request completes,
        // the bytes are in the host's page cache and survive the VMM being killed.
        var (driver, queue) = Start();
        ulong source = driver.Allocate(VirtioBlock.SectorSize, fill: 0x3C);

        Assert.Equal(VirtioBlock.StatusOk, Submit(driver, queue, VirtioBlock.RequestOut, 20, source, VirtioBlock.SectorSize).Status);

        using var other = new FileStream(_image, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        var sector = new byte[VirtioBlock.SectorSize];
        other.Position = 20 * VirtioBlock.SectorSize;
        other.ReadExactly(sector);
        Assert.All(sector, b => Assert.Equal(0x3C, b));
    }

    [Fact]
    public void AMissingImageIsRefusedAtConstruction()
    {
        Assert.Throws<FileNotFoundException>(() => new VirtioBlock(_image + ".missing", readOnly: false));
    }
}
