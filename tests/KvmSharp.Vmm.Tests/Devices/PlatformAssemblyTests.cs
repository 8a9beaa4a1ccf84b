using KvmSharp.Vmm.Devices;
using KvmSharp.Vmm.Devices.Legacy;
using KvmSharp.Vmm.Devices.Virtio;

namespace KvmSharp.Vmm.Tests.Devices;

public class PlatformAssemblyTests
{
    [Fact]
    public void TheLegacyDevicesSitAtThePcPortsWithTheirIrqs()
    {
        var bus = new PioBus();
        var lines = new Dictionary<int, RecordingInterruptLine>();
        int resets = 0;
        using var devices = new PcLegacyDevices(bus, new MemoryStream(), irq => lines[irq] = new RecordingInterruptLine(), () => resets++);

        Assert.Equal([0x60UL, 0x64UL, 0x70UL, 0x3F8UL], bus.Registrations.Select(r => r.Start));
        Assert.Equal([4, 8], lines.Keys.Order());
        bus.Write(0x64, [0xFE]);
        Assert.Equal(1, resets);
        // A PCI configuration probe finds nothing.
        var data = new byte[4];
        Assert.False(bus.Read(0xCFC, data));
        Assert.Equal(uint.MaxValue, BitConverter.ToUInt32(data));
    }

    [Fact]
    public void VirtioDevicesGetConsecutiveWindowsIrqsAndKernelParameters()
    {
        var bus = new MmioBus();
        var irqs = new List<uint>();
        var devices = new VirtioMmioDevices(bus, new FakeGuestMemory(4096), irq => { irqs.Add(irq); return new RecordingInterruptLine(); });

        devices.Add(new VirtioConsole(Stream.Null));
        devices.Add(new VirtioRng());

        Assert.Equal("virtio_mmio.device=4K@0xd0000000:5 virtio_mmio.device=4K@0xd0001000:6", devices.KernelParameters);
        Assert.Equal([5u, 6u], irqs);
        var data = new byte[4];
        bus.Read(0xD000_1008, data);
        Assert.Equal(VirtioDeviceIds.EntropySource, BitConverter.ToUInt32(data));
    }
}
