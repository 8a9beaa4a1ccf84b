using System.Buffers.Binary;

namespace KvmSharp.Vmm.Devices.Virtio;

/// <summary>
/// The virtio-mmio transport, version 2 ("modern", virtio 1.2 §4.2), for one
/// device: registers, feature negotiation, the status sequence, split queues
/// and the interrupt.
///
/// Threading: one lock per transport. A QueueNotify write processes that queue
/// synchronously on the vCPU thread that wrote it (block I/O included), before
/// the write returns; host-side input (the console) processes its queue on the
/// host thread that delivered it, under the same lock. The interrupt line is
/// level: asserted while InterruptStatus is non-zero.
///
/// A malformed queue never throws out of here: the device goes to
/// DEVICE_NEEDS_RESET, a config-change interrupt is raised if the driver was
/// running, the reason is logged, and the device ignores its queues until the
/// driver resets it.
/// </summary>
public sealed class VirtioMmioTransport : IBusDevice
{
    /// <summary>Registers and configuration space fit in 0x200 bytes; the usual window is 4 KiB.</summary>
    public const ulong MinimumWindow = 0x200;

    /// <summary>"KVMS", read as a little-endian number.</summary>
    public const uint KvmSharpVendorId = 0x534D564B;

    private readonly object _lock = new();
    private readonly VirtioDevice _device;
    private readonly IInterruptLine _interrupt;
    private readonly DeviceLog _log;
    private readonly SplitVirtqueue[] _queues;
    private VirtioStatus _status;
    private uint _deviceFeaturesSel, _driverFeaturesSel, _queueSel, _interruptStatus;
    private ulong _driverFeatures;

    public VirtioMmioTransport(VirtioDevice device, IGuestMemory memory, IInterruptLine interrupt, DeviceLog? log = null)
    {
        _device = device;
        _interrupt = interrupt;
        _log = log ?? DeviceLogs.None;
        _queues = new SplitVirtqueue[device.QueueCount];
        for (int i = 0; i < _queues.Length; i++)
            _queues[i] = new SplitVirtqueue(memory, device.QueueSizeMax);
        device.Attach(this);
    }

    public VirtioDevice Device => _device;

    public ulong OfferedFeatures => _device.DeviceFeatures | VirtioFeatures.Bit(VirtioFeatures.Version1) | VirtioFeatures.Bit(VirtioFeatures.RingIndirectDescriptors);

    public ulong NegotiatedFeatures { get; private set; }

    public VirtioStatus Status
    {
        get { lock (_lock) return _status; }
    }

    /// <summary>Why the device last went to DEVICE_NEEDS_RESET, or null.</summary>
    public string? LastFault { get; private set; }

    public int FaultCount { get; private set; }

    public void Read(ulong offset, Span<byte> data)
    {
        lock (_lock)
        {
            if (offset >= VirtioMmioRegisters.Config)
            {
                _device.ReadConfig((uint)(offset - VirtioMmioRegisters.Config), data);
                return;
            }
            if (data.Length != 4 || offset % 4 != 0)
            {
                data.Clear();
                _log(_device.Name, $"{data.Length}-byte read at register 0x{offset:x} ignored: registers are 32-bit and aligned");
                return;
            }
            BinaryPrimitives.WriteUInt32LittleEndian(data, ReadRegister((uint)offset));
        }
    }

    public void Write(ulong offset, ReadOnlySpan<byte> data)
    {
        lock (_lock)
        {
            if (offset >= VirtioMmioRegisters.Config)
            {
                _device.WriteConfig((uint)(offset - VirtioMmioRegisters.Config), data);
                return;
            }
            if (data.Length != 4 || offset % 4 != 0)
            {
                _log(_device.Name, $"{data.Length}-byte write at register 0x{offset:x} ignored: registers are 32-bit and aligned");
                return;
            }
            WriteRegister((uint)offset, BinaryPrimitives.ReadUInt32LittleEndian(data));
        }
    }

    private SplitVirtqueue? SelectedQueue => _queueSel < _queues.Length ? _queues[_queueSel] : null;

    private uint ReadRegister(uint register)
    {
        switch (register)
        {
            case VirtioMmioRegisters.MagicValue: return VirtioMmioRegisters.Magic;
            case VirtioMmioRegisters.Version: return VirtioMmioRegisters.ModernVersion;
            case VirtioMmioRegisters.DeviceId: return _device.DeviceId;
            case VirtioMmioRegisters.VendorId: return KvmSharpVendorId;
            case VirtioMmioRegisters.DeviceFeatures:
                return _deviceFeaturesSel switch
                {
                    0 => (uint)OfferedFeatures,
                    1 => (uint)(OfferedFeatures >> 32),
                    _ => 0,
                };
            case VirtioMmioRegisters.QueueNumMax: return SelectedQueue?.MaxSize ?? 0u;
            case VirtioMmioRegisters.QueueNum: return SelectedQueue?.Size ?? 0u;
            case VirtioMmioRegisters.QueueReady: return SelectedQueue?.Ready == true ? 1u : 0u;
            case VirtioMmioRegisters.InterruptStatus: return _interruptStatus;
            case VirtioMmioRegisters.Status: return (uint)_status;
            case VirtioMmioRegisters.QueueDescLow: return (uint)(SelectedQueue?.DescriptorTable ?? 0);
            case VirtioMmioRegisters.QueueDescHigh: return (uint)((SelectedQueue?.DescriptorTable ?? 0) >> 32);
            case VirtioMmioRegisters.QueueDriverLow: return (uint)(SelectedQueue?.AvailableRing ?? 0);
            case VirtioMmioRegisters.QueueDriverHigh: return (uint)((SelectedQueue?.AvailableRing ?? 0) >> 32);
            case VirtioMmioRegisters.QueueDeviceLow: return (uint)(SelectedQueue?.UsedRing ?? 0);
            case VirtioMmioRegisters.QueueDeviceHigh: return (uint)((SelectedQueue?.UsedRing ?? 0) >> 32);
            // No shared memory regions: their length reads as all ones (virtio 1.2 §4.2.2).
            case VirtioMmioRegisters.SharedMemoryLengthLow or VirtioMmioRegisters.SharedMemoryLengthHigh: return uint.MaxValue;
            case VirtioMmioRegisters.SharedMemoryBaseLow or VirtioMmioRegisters.SharedMemoryBaseHigh: return uint.MaxValue;
            // The devices' configuration never changes after creation, so there is one generation.
            case VirtioMmioRegisters.ConfigGeneration: return 0;
            default: return 0;
        }
    }

    private void WriteRegister(uint register, uint value)
    {
        switch (register)
        {
            case VirtioMmioRegisters.DeviceFeaturesSel:
                _deviceFeaturesSel = value;
                break;
            case VirtioMmioRegisters.DriverFeaturesSel:
                _driverFeaturesSel = value;
                break;
            case VirtioMmioRegisters.DriverFeatures:
                WriteDriverFeatures(value);
                break;
            case VirtioMmioRegisters.QueueSel:
                _queueSel = value;
                break;
            case VirtioMmioRegisters.QueueNum:
                ConfigureQueue(q => q.Size = (ushort)Math.Min(value, ushort.MaxValue), "QueueNum");
                break;
            case VirtioMmioRegisters.QueueDescLow:
                ConfigureQueue(q => q.DescriptorTable = (q.DescriptorTable & ~0xFFFF_FFFFUL) | value, "QueueDescLow");
                break;
            case VirtioMmioRegisters.QueueDescHigh:
                ConfigureQueue(q => q.DescriptorTable = (q.DescriptorTable & 0xFFFF_FFFFUL) | ((ulong)value << 32), "QueueDescHigh");
                break;
            case VirtioMmioRegisters.QueueDriverLow:
                ConfigureQueue(q => q.AvailableRing = (q.AvailableRing & ~0xFFFF_FFFFUL) | value, "QueueDriverLow");
                break;
            case VirtioMmioRegisters.QueueDriverHigh:
                ConfigureQueue(q => q.AvailableRing = (q.AvailableRing & 0xFFFF_FFFFUL) | ((ulong)value << 32), "QueueDriverHigh");
                break;
            case VirtioMmioRegisters.QueueDeviceLow:
                ConfigureQueue(q => q.UsedRing = (q.UsedRing & ~0xFFFF_FFFFUL) | value, "QueueDeviceLow");
                break;
            case VirtioMmioRegisters.QueueDeviceHigh:
                ConfigureQueue(q => q.UsedRing = (q.UsedRing & 0xFFFF_FFFFUL) | ((ulong)value << 32), "QueueDeviceHigh");
                break;
            case VirtioMmioRegisters.QueueReady:
                WriteQueueReady(value);
                break;
            case VirtioMmioRegisters.QueueNotify:
                if (value < _queues.Length)
                    Process((int)value);
                else
                    _log(_device.Name, $"notification for queue {value}, which does not exist, ignored");
                break;
            case VirtioMmioRegisters.InterruptAck:
                _interruptStatus &= ~value;
                UpdateInterrupt();
                break;
            case VirtioMmioRegisters.Status:
                WriteStatus((VirtioStatus)value);
                break;
            default:
                break; // Read-only and unassigned registers.
        }
    }

    private void WriteDriverFeatures(uint value)
    {
        if ((_status & VirtioStatus.FeaturesOk) != 0)
        {
            _log(_device.Name, "driver features written after FEATURES_OK, ignored");
            return;
        }
        if (_driverFeaturesSel == 0)
            _driverFeatures = (_driverFeatures & ~0xFFFF_FFFFUL) | value;
        else if (_driverFeaturesSel == 1)
            _driverFeatures = (_driverFeatures & 0xFFFF_FFFFUL) | ((ulong)value << 32);
    }

    // The queue layout may change only while the queue is not ready (virtio 1.2 §4.2.3.2).
    private void ConfigureQueue(Action<SplitVirtqueue> change, string register)
    {
        var queue = SelectedQueue;
        if (queue is null)
            return;
        if (queue.Ready)
        {
            _log(_device.Name, $"{register} written for queue {_queueSel} while it is ready, ignored");
            return;
        }
        change(queue);
    }

    private void WriteQueueReady(uint value)
    {
        var queue = SelectedQueue;
        if (queue is null)
            return;
        if (value == 0)
        {
            queue.Disable();
            return;
        }
        if (queue.Ready)
            return;
        try
        {
            queue.IndirectDescriptors = (NegotiatedFeatures & VirtioFeatures.Bit(VirtioFeatures.RingIndirectDescriptors)) != 0;
            queue.Enable();
        }
        catch (VirtqueueFault fault)
        {
            NeedsReset($"queue {_queueSel}: {fault.Message}");
        }
    }

    private void WriteStatus(VirtioStatus value)
    {
        if (value == VirtioStatus.None)
        {
            Reset();
            return;
        }
        // DEVICE_NEEDS_RESET is the device's bit; the driver echoes or omits it, and neither changes it.
        var requested = (value & ~VirtioStatus.DeviceNeedsReset) | (_status & VirtioStatus.DeviceNeedsReset);
        if ((_status & ~requested) != 0)
        {
            _log(_device.Name, $"status 0x{(uint)value:x} would clear bits of 0x{(uint)_status:x}; only a reset (0) may, ignored");
            return;
        }
        var added = requested & ~_status;
        if ((added & VirtioStatus.FeaturesOk) != 0 && !AcceptFeatures())
            requested &= ~VirtioStatus.FeaturesOk;
        if ((added & VirtioStatus.DriverOk) != 0 && (requested & VirtioStatus.FeaturesOk) == 0)
        {
            _log(_device.Name, "DRIVER_OK without FEATURES_OK, ignored");
            requested &= ~VirtioStatus.DriverOk;
        }
        _status = requested;
        if ((added & VirtioStatus.DriverOk) != 0 && (_status & VirtioStatus.DriverOk) != 0)
            for (int i = 0; i < _queues.Length; i++)
                Process(i);
    }

    private bool AcceptFeatures()
    {
        ulong unknown = _driverFeatures & ~OfferedFeatures;
        if (unknown != 0)
        {
            _log(_device.Name, $"driver accepted features 0x{unknown:x} that were not offered; FEATURES_OK refused");
            return false;
        }
        if ((_driverFeatures & VirtioFeatures.Bit(VirtioFeatures.Version1)) == 0)
        {
            _log(_device.Name, "driver did not accept VIRTIO_F_VERSION_1 (a legacy driver); FEATURES_OK refused");
            return false;
        }
        NegotiatedFeatures = _driverFeatures;
        return true;
    }

    private void Reset()
    {
        _status = VirtioStatus.None;
        _driverFeatures = 0;
        NegotiatedFeatures = 0;
        _deviceFeaturesSel = _driverFeaturesSel = _queueSel = 0;
        _interruptStatus = 0;
        foreach (var queue in _queues)
            queue.Reset();
        try
        {
            _device.OnReset();
        }
        catch (Exception e)
        {
            _log(_device.Name, $"reset failed: {e.Message}");
        }
        UpdateInterrupt();
    }

    private bool Running => (_status & (VirtioStatus.DriverOk | VirtioStatus.DeviceNeedsReset | VirtioStatus.Failed)) == VirtioStatus.DriverOk;

    internal void ProcessFromHost(int queue)
    {
        lock (_lock)
            Process(queue);
    }

    // The device must not touch buffers before DRIVER_OK (virtio 1.2 §3.1.2) nor after it asked for a reset.
    private void Process(int index)
    {
        var queue = _queues[index];
        if (!Running || !queue.Ready)
            return;
        try
        {
            _device.ProcessQueue(index, queue);
        }
        catch (VirtqueueFault fault)
        {
            NeedsReset($"queue {index}: {fault.Message}");
        }
        catch (Exception e)
        {
            NeedsReset($"queue {index}: the device failed: {e.GetType().Name}: {e.Message}");
        }
        try
        {
            if (queue.TakeInterruptNeeded())
            {
                _interruptStatus |= VirtioMmioRegisters.InterruptUsedBuffer;
                UpdateInterrupt();
            }
        }
        catch (VirtqueueFault fault)
        {
            NeedsReset($"queue {index}: {fault.Message}");
        }
    }

    private void NeedsReset(string reason)
    {
        LastFault = reason;
        FaultCount++;
        _log(_device.Name, $"DEVICE_NEEDS_RESET: {reason}");
        bool wasRunning = (_status & VirtioStatus.DriverOk) != 0;
        _status |= VirtioStatus.DeviceNeedsReset;
        if (wasRunning)
        {
            _interruptStatus |= VirtioMmioRegisters.InterruptConfigChange;
            UpdateInterrupt();
        }
    }

    private void UpdateInterrupt() => _interrupt.Set(_interruptStatus != 0);
}
