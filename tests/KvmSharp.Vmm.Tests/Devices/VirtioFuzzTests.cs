using System.Buffers.Binary;
using KvmSharp.Vmm.Devices.Virtio;
using R = KvmSharp.Vmm.Devices.Virtio.VirtioMmioRegisters;

namespace KvmSharp.Vmm.Tests.Devices;

/// <summary>
/// Random rings: whatever the guest writes, nothing escapes the bus, nothing
/// outside RAM is asked for, and the device either serves the chain or asks
/// for a reset.
/// </summary>
public sealed class VirtioFuzzTests : IDisposable
{
    private readonly string _image = Path.Combine(Path.GetTempPath(), $"kvmsharp-fuzz-{Guid.NewGuid():n}.img");
    private readonly List<IDisposable> _disposables = [];

    public VirtioFuzzTests() => File.WriteAllBytes(_image, new byte[64 * 512]);

    public void Dispose()
    {
        foreach (var d in _disposables)
            d.Dispose();
        File.Delete(_image);
    }

    public static TheoryData<string> Devices => ["block", "console", "rng"];

    [Theory]
    [MemberData(nameof(Devices))]
    public void RandomRingsNeverEscapeTheDevice(string kind)
    {
        var driver = new VirtioTestDriver(() => kind switch
        {
            "block" => Track(new VirtioBlock(_image, readOnly: false)),
            "console" => new VirtioConsole(Stream.Null),
            _ => new VirtioRng(),
        });
        var random = new Random(1234);
        const ushort size = 16;
        int served = 0, resets = 0;

        for (int round = 0; round < 1500; round++)
        {
            var queues = driver.Start(size);
            var queue = queues[random.Next(queues.Length)];
            if (driver.Device is VirtioConsole console)
                console.Receive("input"u8);
            if (random.Next(2) == 0)
                Scribble(driver, queue, random);
            else
                Mutate(driver, queue, random);
            queue.Notify();

            Assert.Equal(0, driver.Memory.OutOfRangeAccesses);
            Assert.Equal(R.Magic, driver.ReadRegister(R.MagicValue));
            if (driver.Status.HasFlag(VirtioStatus.DeviceNeedsReset))
                resets++;
            else
                served += queue.UsedIndex;
            driver.Memory.Ram.AsSpan(0x10000, 0x30000).Clear();
        }

        // Both outcomes occur often, so the generator reaches past the first checks.
        Assert.True(resets > 300, $"{resets} resets");
        Assert.True(served > 300, $"{served} chains served");
    }

    private VirtioBlock Track(VirtioBlock disk)
    {
        _disposables.Add(disk);
        return disk;
    }

    // A well-formed request for the queue's device, then (half the time) one byte of its descriptors or ring changed at random.
    private static void Mutate(VirtioTestDriver driver, TestQueue queue, Random random)
    {
        ulong Buffer(int length) => driver.Allocate(length);
        GuestBuffer[] chain = driver.Device switch
        {
            VirtioBlock => random.Next(2) == 0
                ? [new(driver.Put(new byte[16]), 16, false), new(Buffer(512), 512, true), new(Buffer(1), 1, true)]
                : [new(driver.Put([1, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0]), 16, false), new(Buffer(512), 512, false), new(Buffer(1), 1, true)],
            VirtioConsole when queue.Index == VirtioConsole.TransmitQueue => [new(Buffer(32), 32, false)],
            _ => [new(Buffer(32), 32, true)],
        };
        if (random.Next(2) == 0)
            queue.AddIndirect(chain);
        else
            queue.Add(chain);
        if (random.Next(2) == 0)
        {
            ulong target = random.Next(2) == 0
                ? queue.Descriptors + (ulong)random.Next(0, 16 * chain.Length)
                : queue.Available + (ulong)random.Next(0, 6 + 2 * queue.Size);
            driver.Memory.Ram[target] = (byte)random.Next(0, 256);
        }
    }

    // Descriptors that are mostly plausible (small indices, addresses near buffers, sane flags), sometimes wild.
    private static void Scribble(VirtioTestDriver driver, TestQueue queue, Random random)
    {
        ulong buffers = 0x100000;
        for (uint i = 0; i < queue.Size; i++)
        {
            ulong address = random.Next(10) switch
            {
                0 => (ulong)random.NextInt64(),
                1 => VirtioTestDriver.MemorySize - (ulong)random.Next(64),
                _ => buffers + (ulong)random.Next(0, 0x10000),
            };
            uint length = random.Next(10) switch
            {
                0 => (uint)random.Next() * 2,
                1 => 16 * (uint)random.Next(0, 4),
                _ => (uint)random.Next(0, 1100),
            };
            ushort flags = random.Next(10) == 0 ? (ushort)random.Next(0, 8) : (ushort)(random.Next(0, 4) & 3);
            ushort next = (ushort)(random.Next(8) == 0 ? random.Next(0, 0x10000) : random.Next(0, queue.Size));
            queue.WriteDescriptor(i, address, length, flags, next);
            // Sometimes an indirect table at the buffer.
            if (random.Next(6) == 0 && address >= buffers && address + 64 < VirtioTestDriver.MemorySize)
                for (uint j = 0; j < 4; j++)
                    queue.WriteDescriptor(address, j, buffers + (ulong)random.Next(0, 0x10000), (uint)random.Next(0, 600), (ushort)random.Next(0, 8), (ushort)random.Next(0, 5));
        }
        // Block headers of every type at the start of some buffers.
        for (int i = 0; i < 32; i++)
        {
            var header = driver.Memory.Ram.AsSpan(0x100000 + random.Next(0, 0x10000), 16);
            BinaryPrimitives.WriteUInt32LittleEndian(header, (uint)random.Next(0, 10));
            BinaryPrimitives.WriteUInt64LittleEndian(header[8..], (ulong)random.Next(0, 80));
        }
        int published = random.Next(0, 4);
        for (int i = 0; i < published; i++)
            queue.Publish((ushort)(random.Next(10) == 0 ? random.Next(0, 0x10000) : random.Next(0, queue.Size)));
        if (random.Next(10) == 0)
            queue.SetAvailableIndex((ushort)random.Next(0, 0x10000));
    }
}
