using KvmSharp.Vmm.Devices;
using KvmSharp.Vmm.Devices.Virtio;

namespace KvmSharp.Vmm.Tests.Devices;

public class VirtioConsoleAndRngTests
{
    private readonly MemoryStream _output = new();

    private VirtioTestDriver Console() => new(() => new VirtioConsole(_output));

    [Fact]
    public void TransmittedBuffersReachTheOutputStreamInOrder()
    {
        var driver = Console();
        var queues = driver.Start();
        var tx = queues[VirtioConsole.TransmitQueue];

        tx.Add(new GuestBuffer(driver.Put("hello, "u8), 7, false));
        tx.Add(new GuestBuffer(driver.Put("wor"u8), 3, false), new GuestBuffer(driver.Put("ld\n"u8), 3, false));
        tx.Notify();

        Assert.Equal("hello, world\n"u8.ToArray(), _output.ToArray());
        Assert.Equal(2, tx.UsedIndex);
        Assert.Equal(0u, tx.UsedElement(0).Length);
        Assert.True(driver.Interrupt.Level);
    }

    [Fact]
    public void InputWaitsForAReceiveBufferThenArrivesWithItsLength()
    {
        var driver = Console();
        var console = (VirtioConsole)driver.Device;
        var rx = driver.Start()[VirtioConsole.ReceiveQueue];

        console.Receive("ls -l\n"u8);
        Assert.Equal(6, console.PendingInput);

        ulong buffer = driver.Allocate(4);
        rx.Add(new GuestBuffer(buffer, 4, true));
        rx.Notify();
        Assert.Equal("ls -"u8.ToArray(), driver.Get(buffer, 4));
        Assert.Equal(4u, rx.UsedElement(0).Length);

        ulong second = driver.Allocate(64);
        rx.Add(new GuestBuffer(second, 64, true));
        rx.Notify();
        Assert.Equal("l\n"u8.ToArray(), driver.Get(second, 2));
        Assert.Equal(2u, rx.UsedElement(1).Length);
        Assert.Equal(0, console.PendingInput);
    }

    [Fact]
    public void InputArrivingWhileABufferWaitsIsDeliveredAtOnceWithAnInterrupt()
    {
        var driver = Console();
        var console = (VirtioConsole)driver.Device;
        var rx = driver.Start()[VirtioConsole.ReceiveQueue];
        ulong buffer = driver.Allocate(16);
        rx.Add(new GuestBuffer(buffer, 16, true));
        rx.Notify();
        Assert.Equal(0, rx.UsedIndex);
        Assert.False(driver.Interrupt.Level);

        console.Receive("y"u8);

        Assert.Equal(1, rx.UsedIndex);
        Assert.Equal((byte)'y', driver.Get(buffer, 1)[0]);
        Assert.True(driver.Interrupt.Level);
    }

    [Fact]
    public void InputBeforeTheDriverIsReadyIsKept()
    {
        var driver = Console();
        var console = (VirtioConsole)driver.Device;
        console.Receive("early"u8);

        var rx = driver.Start()[VirtioConsole.ReceiveQueue];
        ulong buffer = driver.Allocate(16);
        rx.Add(new GuestBuffer(buffer, 16, true));
        rx.Notify();

        Assert.Equal("early"u8.ToArray(), driver.Get(buffer, 5));
    }

    [Fact]
    public void InputFromManyThreadsIsAllDelivered()
    {
        var driver = Console();
        var console = (VirtioConsole)driver.Device;
        var rx = driver.Start(queueSize: 256)[VirtioConsole.ReceiveQueue];
        ulong buffer = driver.Allocate(4096);
        rx.Add(new GuestBuffer(buffer, 4096, true));
        rx.Notify();

        Parallel.For(0, 8, _ =>
        {
            for (int i = 0; i < 100; i++)
                console.Receive("ab"u8);
        });

        long delivered = Enumerable.Range(0, rx.UsedIndex).Sum(i => rx.UsedElement(i).Length);
        Assert.Equal(1600, delivered + console.PendingInput);
    }

    [Fact]
    public async Task TheConsolePumpsAHostStream()
    {
        var driver = Console();
        var console = (VirtioConsole)driver.Device;
        await console.PumpFrom(new MemoryStream("piped"u8.ToArray()), TestContext.Current.CancellationToken);

        Assert.Equal(5, console.PendingInput);
    }

    [Fact]
    public void RngFillsEveryWritableByte()
    {
        var driver = new VirtioTestDriver(() => new VirtioRng());
        var queue = driver.Start()[0];
        ulong a = driver.Allocate(64), b = driver.Allocate(4000);

        queue.Add(new GuestBuffer(a, 64, true), new GuestBuffer(b, 4000, true));
        queue.Notify();

        Assert.Equal(4064u, queue.UsedElement(0).Length);
        Assert.Contains(driver.Get(a, 64), x => x != 0);
        // 4000 random bytes contain nearly every byte value; a zero-filled or half-filled buffer would not.
        Assert.True(driver.Get(b, 4000).Distinct().Count() > 200);
        Assert.Contains(driver.Get(b + 3968, 32), x => x != 0);
    }
}
