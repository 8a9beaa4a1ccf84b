using KvmSharp.Vmm.Devices;
using KvmSharp.Vmm.Memory;

namespace KvmSharp.Vmm.Tests.Devices;

public class GuestRamMemoryTests
{
    [Fact]
    public void RangesInsideOneRegionAreRamAndEverythingElseIsRefused()
    {
        using var low = new GuestRam(0x10000);
        using var high = new GuestRam(0x10000);
        var memory = new GuestRamMemory((0, low), (0x1_0000_0000, high));

        Assert.True(memory.Contains(0, 0x10000));
        Assert.True(memory.Contains(0xFFFF, 1));
        Assert.True(memory.Contains(0x1_0000_FFF0, 0x10));
        Assert.False(memory.Contains(0xFFFF, 2));
        Assert.False(memory.Contains(0x10000, 0));
        Assert.False(memory.Contains(0x8000_0000, 1));
        Assert.False(memory.Contains(ulong.MaxValue, 2));
        Assert.False(memory.Contains(0x1_0000_0000, ulong.MaxValue));
        Assert.Throws<GuestMemoryRangeException>(() => memory.Slice(0xFFF0, 0x20));
        Assert.Throws<GuestMemoryRangeException>(() => memory.Slice(0, -1));
    }

    [Fact]
    public void SlicesAreTheRamItself()
    {
        using var ram = new GuestRam(0x2000);
        var memory = new GuestRamMemory((0x10_0000, ram));

        memory.Slice(0x10_1000, 4).Fill(0xAB);

        Assert.Equal(0xAB, ram.Span[0x1003]);
    }

    [Fact]
    public void OverlappingRegionsAreRefused()
    {
        using var a = new GuestRam(0x2000);
        using var b = new GuestRam(0x2000);

        Assert.Throws<ArgumentException>(() => new GuestRamMemory((0, a), (0x1000, b)));
    }
}
