using System.Security.Cryptography;

namespace KvmSharp.Vmm.Devices.Virtio;

/// <summary>virtio-rng (virtio 1.2 §5.4): fills every device-writable buffer from the host's CSPRNG.</summary>
public sealed class VirtioRng() : VirtioDevice("virtio-rng")
{
    public override uint DeviceId => VirtioDeviceIds.EntropySource;

    public override ulong DeviceFeatures => 0;

    public override int QueueCount => 1;

    public override void ReadConfig(uint offset, Span<byte> data) => data.Clear();

    protected internal override void ProcessQueue(int index, SplitVirtqueue queue)
    {
        while (queue.TryPop(out var chain))
        {
            if (chain.ReadableLength != 0)
                throw new VirtqueueFault($"request {chain.Head} has {chain.ReadableLength} device-readable bytes; entropy buffers are device-writable");
            foreach (var piece in chain.Pieces(0, chain.WritableLength, writable: true))
                RandomNumberGenerator.Fill(chain.Memory(piece));
            queue.Complete(chain, chain.WritableLength);
        }
    }
}
