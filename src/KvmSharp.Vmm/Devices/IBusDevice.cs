namespace KvmSharp.Vmm.Devices;

/// <summary>
/// A device as a bus sees it: accesses at an offset from the start of the
/// range it was registered at. The span's length is the access width.
/// </summary>
public interface IBusDevice
{
    void Read(ulong offset, Span<byte> data);

    void Write(ulong offset, ReadOnlySpan<byte> data);
}
