namespace KvmSharp.Vmm.Devices.Virtio;

/// <summary>
/// What a virtio device type adds to the transport: its ID, its feature bits,
/// its configuration space and what it does with a queue's buffers. Every
/// method is called by the transport with the transport's lock held; a device
/// that takes work from the host (console input) asks the transport to run its
/// queue through <see cref="KickFromHost"/>.
/// </summary>
public abstract class VirtioDevice
{
    private VirtioMmioTransport? _transport;

    protected VirtioDevice(string name) => Name = name;

    public string Name { get; }

    public abstract uint DeviceId { get; }

    /// <summary>Device-type feature bits; the transport adds VERSION_1 and INDIRECT_DESC.</summary>
    public abstract ulong DeviceFeatures { get; }

    public abstract int QueueCount { get; }

    public virtual ushort QueueSizeMax => 256;

    /// <summary>The features the driver accepted (valid once FEATURES_OK was set).</summary>
    protected ulong NegotiatedFeatures => _transport?.NegotiatedFeatures ?? 0;

    protected bool Negotiated(int bit) => (NegotiatedFeatures & (1UL << bit)) != 0;

    /// <summary>Reads the device-specific configuration space; bytes past its end read as zero.</summary>
    public abstract void ReadConfig(uint offset, Span<byte> data);

    /// <summary>Writes the configuration space; the devices here have nothing writable, so the default ignores it.</summary>
    public virtual void WriteConfig(uint offset, ReadOnlySpan<byte> data) { }

    /// <summary>Handles what the driver made available on the queue. May throw <see cref="VirtqueueFault"/>.</summary>
    protected internal abstract void ProcessQueue(int index, SplitVirtqueue queue);

    /// <summary>The driver reset the device (status 0).</summary>
    protected internal virtual void OnReset() { }

    internal void Attach(VirtioMmioTransport transport)
    {
        if (_transport is not null)
            throw new InvalidOperationException($"{Name} is already attached to a transport.");
        _transport = transport;
    }

    /// <summary>Processes a queue now, from a host thread, as a notification from the driver would.</summary>
    protected void KickFromHost(int queue) => _transport?.ProcessFromHost(queue);

    /// <summary>Copies a little-endian configuration structure into a read, zero past its end.</summary>
    protected static void ReadConfigBytes(ReadOnlySpan<byte> config, uint offset, Span<byte> data)
    {
        data.Clear();
        if (offset < config.Length)
        {
            var available = config[(int)offset..];
            available[..Math.Min(available.Length, data.Length)].CopyTo(data);
        }
    }
}
