namespace KvmSharp.Vmm.Devices.Virtio;

/// <summary>
/// Virtio devices placed one after another in 4 KiB MMIO windows, each with
/// its own interrupt, and the kernel parameters that declare them.
/// </summary>
public sealed class VirtioMmioDevices(MmioBus bus, IGuestMemory memory, Func<uint, IInterruptLine> irq, DeviceLog? log = null, ulong firstBase = 0xD000_0000, uint firstIrq = 5)
{
    private readonly List<(VirtioMmioSlot Slot, VirtioMmioTransport Transport)> _devices = [];

    public IReadOnlyList<(VirtioMmioSlot Slot, VirtioMmioTransport Transport)> Devices => _devices;

    public VirtioMmioTransport Add(VirtioDevice device)
    {
        var slot = VirtioMmioSlot.Nth(_devices.Count, firstBase, firstIrq);
        var transport = new VirtioMmioTransport(device, memory, irq(slot.Irq), log);
        slot.Register(bus, transport);
        _devices.Add((slot, transport));
        return transport;
    }

    /// <summary>The <c>virtio_mmio.device=</c> parameters for every device, space-separated.</summary>
    public string KernelParameters => string.Join(' ', _devices.Select(d => d.Slot.KernelParameter));
}
