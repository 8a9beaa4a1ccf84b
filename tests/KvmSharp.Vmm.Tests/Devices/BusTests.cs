using KvmSharp.Vmm.Devices;

namespace KvmSharp.Vmm.Tests.Devices;

public class BusTests
{
    private sealed class RecordingDevice : IBusDevice
    {
        public List<(string Kind, ulong Offset, byte[] Data)> Accesses { get; } = [];

        public void Read(ulong offset, Span<byte> data)
        {
            data.Fill(0x5A);
            Accesses.Add(("read", offset, data.ToArray()));
        }

        public void Write(ulong offset, ReadOnlySpan<byte> data) => Accesses.Add(("write", offset, data.ToArray()));
    }

    [Fact]
    public void UnclaimedReadsReturnAllOnesAndWritesAreDropped()
    {
        var bus = new PioBus();
        var data = new byte[4];

        Assert.False(bus.Read(0x80, data));
        Assert.Equal([0xFF, 0xFF, 0xFF, 0xFF], data);
        Assert.False(bus.Write(0x80, [1, 2]));
        Assert.Equal(1, bus.UnclaimedReads);
        Assert.Equal(1, bus.UnclaimedWrites);
    }

    [Fact]
    public void DevicesSeeOffsetsFromTheirBaseAndEachAccessIsCounted()
    {
        var bus = new PioBus();
        var device = new RecordingDevice();
        var registration = bus.Register(0x3F8, 8, device, "uart");
        var data = new byte[1];

        Assert.True(bus.Write(0x3FB, [0x80]));
        Assert.True(bus.Read(0x3F8, data));
        Assert.True(bus.Read(0x3FF, data));

        Assert.Equal([("write", 3UL), ("read", 0UL), ("read", 7UL)], device.Accesses.Select(a => (a.Kind, a.Offset)));
        Assert.Equal(2, registration.Reads);
        Assert.Equal(1, registration.Writes);
    }

    [Theory]
    [InlineData(0x3F8, 8)]
    [InlineData(0x3F0, 9)]
    [InlineData(0x3FF, 1)]
    [InlineData(0x3FA, 2)]
    [InlineData(0x300, 0x200)]
    public void OverlappingRangesAreRefused(ulong start, ulong length)
    {
        var bus = new PioBus();
        bus.Register(0x3F8, 8, new RecordingDevice(), "uart");

        var error = Assert.Throws<InvalidOperationException>(() => bus.Register(start, length, new RecordingDevice(), "intruder"));
        Assert.Contains("uart", error.Message);
        Assert.Single(bus.Registrations);
    }

    [Fact]
    public void AdjacentRangesAndRangesEndingAtTheTopOfTheSpaceAreAccepted()
    {
        var pio = new PioBus();
        pio.Register(0x3F8, 8, new RecordingDevice(), "uart");
        pio.Register(0x3F0, 8, new RecordingDevice(), "below");
        pio.Register(0x400, 8, new RecordingDevice(), "above");
        pio.Register(0xFFFF, 1, new RecordingDevice(), "top");
        var mmio = new MmioBus();
        mmio.Register(ulong.MaxValue - 0xFFF, 0x1000, new RecordingDevice(), "top");

        Assert.Equal(4, pio.Registrations.Count);
        Assert.True(mmio.Read(ulong.MaxValue - 3, new byte[4]));
    }

    [Fact]
    public void RangesOutsideTheSpaceOrEmptyAreRefused()
    {
        var pio = new PioBus();

        Assert.Throws<ArgumentOutOfRangeException>(() => pio.Register(0xFFFF, 2, new RecordingDevice(), "past the end"));
        Assert.Throws<ArgumentOutOfRangeException>(() => pio.Register(0x10000, 1, new RecordingDevice(), "outside"));
        Assert.Throws<ArgumentOutOfRangeException>(() => pio.Register(0x80, 0, new RecordingDevice(), "empty"));
        Assert.Throws<ArgumentOutOfRangeException>(() => new MmioBus().Register(ulong.MaxValue, 2, new RecordingDevice(), "wraps"));
    }

    [Fact]
    public void AnAccessThatRunsPastTheEndOfARangeIsUnclaimed()
    {
        var bus = new MmioBus();
        var device = new RecordingDevice();
        bus.Register(0x1000, 0x10, device, "dev");
        var data = new byte[4];

        Assert.False(bus.Read(0x100E, data));
        Assert.Equal([0xFF, 0xFF, 0xFF, 0xFF], data);
        Assert.False(bus.Write(0x100E, data));
        Assert.Empty(device.Accesses);
        Assert.True(bus.Read(0x100C, data));
    }

    [Fact]
    public void LookupFindsEachOfManyRanges()
    {
        var bus = new MmioBus();
        var devices = Enumerable.Range(0, 50).Select(_ => new RecordingDevice()).ToArray();
        // Registered out of order on purpose.
        foreach (int i in Enumerable.Range(0, 50).Reverse())
            bus.Register(0xD000_0000UL + (ulong)i * 0x1000, 0x1000, devices[i], $"dev{i}");

        for (int i = 0; i < 50; i++)
            bus.Write(0xD000_0000UL + (ulong)i * 0x1000 + 0x50, [1, 0, 0, 0]);

        Assert.All(devices, d => Assert.Equal(0x50UL, Assert.Single(d.Accesses).Offset));
        Assert.False(bus.Read(0xD000_0000UL + 50 * 0x1000, new byte[4]));
    }
}

public class BusDispatchTests
{
    private sealed class CountingPort : IBusDevice
    {
        public List<byte> Written { get; } = [];
        private byte _next = 1;

        public void Read(ulong offset, Span<byte> data) => data.Fill(_next++);

        public void Write(ulong offset, ReadOnlySpan<byte> data) => Written.AddRange(data.ToArray());
    }

    [Fact]
    public void AStringIoExitIsOneAccessPerElement()
    {
        var bus = new PioBus();
        var port = new CountingPort();
        var registration = bus.Register(0x3F8, 2, port, "port");
        var data = new byte[] { 1, 2, 3 };

        bus.Dispatch(0x3F8, isOut: true, size: 1, count: 3, data);
        var input = new byte[4];
        bus.Dispatch(0x3F8, isOut: false, size: 2, count: 2, input);

        Assert.Equal([1, 2, 3], port.Written);
        Assert.Equal([1, 1, 2, 2], input);
        Assert.Equal(3, registration.Writes);
        Assert.Equal(2, registration.Reads);
    }
}
