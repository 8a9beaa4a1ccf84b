namespace KvmSharp.Vmm.Devices.Virtio;

/// <summary>
/// virtio-console with a single port (virtio 1.2 §5.3, no MULTIPORT): queue 0
/// carries host input to the guest, queue 1 guest output to the host stream.
/// Host input waits in an unbounded queue until the driver posts receive
/// buffers; <see cref="Receive"/> may be called from any thread.
/// </summary>
public sealed class VirtioConsole : VirtioDevice, IHostInput
{
    public const int ReceiveQueue = 0, TransmitQueue = 1;

    private readonly Stream _output;
    private readonly object _inputLock = new();
    private readonly Queue<byte> _input = new();
    private long _droppedOutputBytes;

    public VirtioConsole(Stream output) : base("virtio-console") => _output = output;

    public override uint DeviceId => VirtioDeviceIds.Console;

    public override ulong DeviceFeatures => 0;

    public override int QueueCount => 2;

    /// <summary>Bytes the output stream refused (it threw); they are lost, the guest never notices.</summary>
    public long DroppedOutputBytes => Interlocked.Read(ref _droppedOutputBytes);

    public int PendingInput
    {
        get { lock (_inputLock) return _input.Count; }
    }

    // cols, rows, max_nr_ports, emerg_wr: meaningful only with features this device does not offer.
    public override void ReadConfig(uint offset, Span<byte> data) => ReadConfigBytes(stackalloc byte[12], offset, data);

    public void Receive(ReadOnlySpan<byte> bytes)
    {
        lock (_inputLock)
            foreach (byte b in bytes)
                _input.Enqueue(b);
        KickFromHost(ReceiveQueue);
    }

    protected internal override void ProcessQueue(int index, SplitVirtqueue queue)
    {
        if (index == ReceiveQueue)
            DeliverInput(queue);
        else
            TakeOutput(queue);
    }

    private void DeliverInput(SplitVirtqueue queue)
    {
        Span<byte> buffer = stackalloc byte[4096];
        while (PendingInput > 0 && queue.TryPop(out var chain))
        {
            if (chain.ReadableLength != 0)
                throw new VirtqueueFault($"receive buffer {chain.Head} has {chain.ReadableLength} device-readable bytes; receive buffers are device-writable");
            uint written = 0;
            while (written < chain.WritableLength)
            {
                int count;
                lock (_inputLock)
                {
                    count = (int)Math.Min(Math.Min((uint)buffer.Length, chain.WritableLength - written), (uint)_input.Count);
                    for (int i = 0; i < count; i++)
                        buffer[i] = _input.Dequeue();
                }
                if (count == 0)
                    break;
                chain.Write(written, buffer[..count]);
                written += (uint)count;
            }
            queue.Complete(chain, written);
        }
    }

    private void TakeOutput(SplitVirtqueue queue)
    {
        while (queue.TryPop(out var chain))
        {
            if (chain.WritableLength != 0)
                throw new VirtqueueFault($"transmit buffer {chain.Head} has {chain.WritableLength} device-writable bytes; transmit buffers are device-readable");
            foreach (var piece in chain.Pieces(0, chain.ReadableLength, writable: false))
            {
                try
                {
                    _output.Write(chain.Memory(piece));
                }
                catch (Exception e) when (e is IOException or ObjectDisposedException or NotSupportedException)
                {
                    Interlocked.Add(ref _droppedOutputBytes, piece.Length);
                }
            }
            queue.Complete(chain, 0);
        }
        try
        {
            _output.Flush();
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or NotSupportedException)
        {
        }
    }
}
