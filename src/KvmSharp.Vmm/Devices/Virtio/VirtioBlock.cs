using System.Buffers.Binary;
using System.Text;
using Microsoft.Win32.SafeHandles;

namespace KvmSharp.Vmm.Devices.Virtio;

/// <summary>
/// virtio-blk over a raw image file (virtio 1.2 §5.2): one request queue;
/// IN, OUT, FLUSH and GET_ID. Data moves by positional reads and writes
/// straight between the file and guest RAM, so a completed OUT is in the host's
/// page cache (it survives the VMM being killed) and a FLUSH is an fsync (it
/// survives the host losing power). If the driver does not negotiate
/// VIRTIO_BLK_F_FLUSH, every write is followed by an fsync, as the spec asks
/// of a device whose driver cannot flush. Requests are served on the thread
/// that notified the queue. The image is not locked against other processes
/// (one may inspect it while the guest runs); two writers corrupt it, as with
/// any raw image.
/// </summary>
public sealed class VirtioBlock : VirtioDevice, IDisposable
{
    public const int SectorSize = 512;
    public const int IdLength = 20;

    public const int FeatureSegmentMax = 2, FeatureReadOnly = 5, FeatureFlush = 9;

    public const uint RequestIn = 0, RequestOut = 1, RequestFlush = 4, RequestGetId = 8;
    public const byte StatusOk = 0, StatusIoError = 1, StatusUnsupported = 2;

    private const int HeaderLength = 16;

    private readonly FileStream _file;
    private readonly SafeFileHandle _handle;
    private readonly byte[] _id;
    // capacity (u64), size_max (u32), seg_max (u32).
    private readonly byte[] _config = new byte[16];
    private readonly DeviceLog _log;

    public VirtioBlock(string imagePath, bool readOnly, string? serial = null, DeviceLog? log = null)
        : base($"virtio-blk {Path.GetFileName(imagePath)}")
    {
        ReadOnly = readOnly;
        _log = log ?? DeviceLogs.None;
        _file = new FileStream(imagePath, FileMode.Open, readOnly ? FileAccess.Read : FileAccess.ReadWrite, FileShare.Read, bufferSize: 0);
        _handle = _file.SafeFileHandle;
        CapacitySectors = (ulong)_file.Length / SectorSize;
        BinaryPrimitives.WriteUInt64LittleEndian(_config, CapacitySectors);
        BinaryPrimitives.WriteUInt32LittleEndian(_config.AsSpan(12), SegmentMax);
        byte[] id = Encoding.ASCII.GetBytes(serial ?? Path.GetFileNameWithoutExtension(imagePath));
        _id = new byte[IdLength];
        id.AsSpan(0, Math.Min(IdLength, id.Length)).CopyTo(_id);
    }

    public bool ReadOnly { get; }

    /// <summary>The disk size in 512-byte sectors; a partial sector at the end of the file is not part of the disk.</summary>
    public ulong CapacitySectors { get; }

    /// <summary>
    /// Data segments per request. Without SEG_MAX Linux sends one segment per
    /// request; a chain holds the segments plus header and status and may not
    /// exceed the queue size.
    /// </summary>
    public uint SegmentMax => (uint)QueueSizeMax - 2;

    public override uint DeviceId => VirtioDeviceIds.Block;

    public override ulong DeviceFeatures => (1UL << FeatureSegmentMax) | (1UL << FeatureFlush) | (ReadOnly ? 1UL << FeatureReadOnly : 0);

    public override int QueueCount => 1;

    public override void ReadConfig(uint offset, Span<byte> data) => ReadConfigBytes(_config, offset, data);

    protected internal override void ProcessQueue(int index, SplitVirtqueue queue)
    {
        while (queue.TryPop(out var chain))
        {
            uint written = Handle(chain);
            queue.Complete(chain, written);
        }
    }

    // Returns the bytes written into the chain: data plus the status byte.
    private uint Handle(DescriptorChain chain)
    {
        if (chain.ReadableLength < HeaderLength)
            throw new VirtqueueFault($"request {chain.Head} has {chain.ReadableLength} device-readable bytes, less than the 16-byte header");
        if (chain.WritableLength < 1)
            throw new VirtqueueFault($"request {chain.Head} has no device-writable byte for its status");
        Span<byte> header = stackalloc byte[HeaderLength];
        chain.Read(0, header);
        uint type = BinaryPrimitives.ReadUInt32LittleEndian(header);
        ulong sector = BinaryPrimitives.ReadUInt64LittleEndian(header[8..]);
        uint statusOffset = chain.WritableLength - 1;
        uint dataIn = chain.WritableLength - 1, dataOut = chain.ReadableLength - HeaderLength;

        (byte status, uint written) = type switch
        {
            RequestIn when dataOut != 0 => throw new VirtqueueFault($"read request {chain.Head} has {dataOut} device-readable data bytes; its buffers must be device-writable"),
            RequestOut when dataIn != 0 => throw new VirtqueueFault($"write request {chain.Head} has {dataIn} device-writable data bytes; its buffers must be device-readable"),
            RequestIn => (ReadSectors(chain, sector, dataIn), dataIn),
            RequestOut => (WriteSectors(chain, sector, dataOut), 0u),
            RequestFlush => (Flush(), 0u),
            RequestGetId => GetId(chain, dataIn),
            _ => (StatusUnsupported, 0u),
        };
        if (status != StatusOk)
            written = 0;
        chain.Write(statusOffset, [status]);
        return written + 1;
    }

    private bool InRange(ulong sector, uint length, string what)
    {
        if (length % SectorSize != 0)
        {
            _log(Name, $"{what} of {length} bytes at sector {sector} is not whole sectors");
            return false;
        }
        ulong sectors = length / SectorSize;
        if (sector > CapacitySectors || sectors > CapacitySectors - sector)
        {
            _log(Name, $"{what} of {sectors} sectors at sector {sector} is past the end of the {CapacitySectors}-sector disk");
            return false;
        }
        return true;
    }

    private byte ReadSectors(DescriptorChain chain, ulong sector, uint length)
    {
        if (!InRange(sector, length, "read"))
            return StatusIoError;
        long position = (long)(sector * SectorSize);
        try
        {
            foreach (var piece in chain.Pieces(0, length, writable: true))
            {
                var target = chain.Memory(piece);
                while (!target.IsEmpty)
                {
                    int count = RandomAccess.Read(_handle, target, position);
                    if (count == 0)
                    {
                        _log(Name, $"the image ended at byte {position}, inside the disk: was it truncated?");
                        return StatusIoError;
                    }
                    target = target[count..];
                    position += count;
                }
            }
            return StatusOk;
        }
        catch (IOException e)
        {
            _log(Name, $"read at byte {position} failed: {e.Message}");
            return StatusIoError;
        }
    }

    private byte WriteSectors(DescriptorChain chain, ulong sector, uint length)
    {
        if (ReadOnly)
            return StatusIoError;
        if (!InRange(sector, length, "write"))
            return StatusIoError;
        long position = (long)(sector * SectorSize);
        try
        {
            foreach (var piece in chain.Pieces(HeaderLength, length, writable: false))
            {
                RandomAccess.Write(_handle, chain.Memory(piece), position);
                position += piece.Length;
            }
            // Without a FLUSH command the driver cannot make a write durable; the device does it for it.
            if (!Negotiated(FeatureFlush))
                _file.Flush(flushToDisk: true);
            return StatusOk;
        }
        catch (IOException e)
        {
            _log(Name, $"write at byte {position} failed: {e.Message}");
            return StatusIoError;
        }
    }

    private byte Flush()
    {
        if (ReadOnly)
            return StatusOk;
        try
        {
            _file.Flush(flushToDisk: true);
            return StatusOk;
        }
        catch (IOException e)
        {
            _log(Name, $"fsync failed: {e.Message}");
            return StatusIoError;
        }
    }

    // The ID is NUL-padded, and not NUL-terminated when it fills all 20 bytes (virtio 1.2 §5.2.6).
    private (byte, uint) GetId(DescriptorChain chain, uint room)
    {
        uint length = Math.Min(room, IdLength);
        chain.Write(0, _id.AsSpan(0, (int)length));
        return (StatusOk, length);
    }

    public void Dispose() => _file.Dispose();
}
