using KvmSharp.Vmm.Devices.Virtio;

namespace KvmSharp.Vmm.Tests.Devices;

public class VirtioConcurrencyTests
{
    [Fact]
    public async Task HostInputRacingTheDriversReceiveBuffersArrivesWholeAndInOrder()
    {
        var driver = new VirtioTestDriver(() => new VirtioConsole(Stream.Null));
        var console = (VirtioConsole)driver.Device;
        const ushort size = 16;
        const int outstandingLimit = 8, bufferLength = 64;
        var rx = driver.Start(queueSize: size)[VirtioConsole.ReceiveQueue];
        ulong buffers = driver.Allocate(size * bufferLength);
        var input = new byte[20_000];
        new Random(42).NextBytes(input);
        var received = new List<byte>();
        var cancellation = TestContext.Current.CancellationToken;

        var host = Task.Run(() =>
        {
            var random = new Random(7);
            for (int at = 0; at < input.Length;)
            {
                int count = Math.Min(random.Next(1, 300), input.Length - at);
                console.Receive(input.AsSpan(at, count));
                at += count;
            }
        }, cancellation);

        int posted = 0, consumed = 0;
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (received.Count < input.Length && DateTime.UtcNow < deadline)
        {
            while (posted - consumed < outstandingLimit)
            {
                rx.Add(new GuestBuffer(buffers + (ulong)(posted % size) * bufferLength, bufferLength, true));
                posted++;
                rx.Notify();
            }
            Interlocked.MemoryBarrier();
            while (consumed != posted && (ushort)consumed != rx.UsedIndex)
            {
                var (id, length) = rx.UsedElement(consumed);
                Assert.Equal((uint)(consumed % size), id);
                received.AddRange(driver.Get(buffers + id * bufferLength, (int)length));
                consumed++;
            }
        }
        await host;

        Assert.Equal(input, received.ToArray());
        Assert.False(driver.Status.HasFlag(VirtioStatus.DeviceNeedsReset), driver.Transport.LastFault);
        Assert.Equal(0, driver.Memory.OutOfRangeAccesses);
    }
}
