using KvmSharp.Vmm.Devices;
using KvmSharp.Vmm.Devices.Virtio;
using KvmSharp.Vmm.Memory;

namespace KvmSharp.Vmm.Tests.Devices;

/// <summary>The devices over real guest RAM (host memory from mmap), as the VMM runs them.</summary>
public sealed class RealGuestRamTests : IDisposable
{
    private readonly GuestRam _ram = new(VirtioTestDriver.MemorySize);

    public void Dispose() => _ram.Dispose();

    [Fact]
    public void BlockRoundTripThroughMappedGuestRam()
    {
        string image = Path.Combine(Path.GetTempPath(), $"kvmsharp-ram-{Guid.NewGuid():n}.img");
        File.WriteAllBytes(image, new byte[8 * 512]);
        try
        {
            using var disk = new VirtioBlock(image, readOnly: false);
            var driver = new VirtioTestDriver(() => disk, new GuestRamMemory((0, _ram)));
            var queue = driver.Start(extraFeatures: 1UL << VirtioBlock.FeatureFlush)[0];
            var header = new byte[16];
            header[0] = (byte)VirtioBlock.RequestOut;
            header[8] = 2;
            ulong data = driver.Allocate(512, fill: 0x77), status = driver.Allocate(1, fill: 0xEE);

            queue.Add(new(driver.Put(header), 16, false), new(data, 512, false), new(status, 1, true));
            queue.Notify();

            Assert.Equal(VirtioBlock.StatusOk, _ram.Span[(int)status]);
            Assert.All(File.ReadAllBytes(image).AsSpan(2 * 512, 512).ToArray(), b => Assert.Equal(0x77, b));
        }
        finally
        {
            File.Delete(image);
        }
    }

    [Fact]
    public void ABufferPastTheEndOfMappedRamIsRefused()
    {
        var driver = new VirtioTestDriver(() => new VirtioRng(), new GuestRamMemory((0, _ram)));
        var queue = driver.Start()[0];

        queue.Add(new GuestBuffer(VirtioTestDriver.MemorySize - 8, 16, true));
        queue.Notify();

        driver.AssertNeedsReset("not in guest RAM");
    }
}
