using KvmSharp.Vmm.Memory;

namespace KvmSharp.Vmm.Devices;

/// <summary>
/// Guest RAM made of one or more <see cref="GuestRam"/> blocks at guest-physical
/// addresses (for example below and above the PCI hole). A range that crosses
/// from one block to the next is refused: no guest driver needs one buffer to
/// span the hole.
/// </summary>
public sealed class GuestRamMemory : IGuestMemory
{
    private readonly (ulong Gpa, GuestRam Ram)[] _regions;

    public GuestRamMemory(params (ulong Gpa, GuestRam Ram)[] regions)
    {
        if (regions.Length == 0)
            throw new ArgumentException("Guest memory needs at least one RAM region.", nameof(regions));
        _regions = regions.OrderBy(r => r.Gpa).ToArray();
        for (int i = 0; i < _regions.Length; i++)
        {
            var (gpa, ram) = _regions[i];
            if (ram.Size - 1 > ulong.MaxValue - gpa)
                throw new ArgumentException($"RAM at 0x{gpa:x} of 0x{ram.Size:x} bytes runs past the top of the address space.", nameof(regions));
            if (i > 0 && _regions[i - 1].Gpa + _regions[i - 1].Ram.Size > gpa)
                throw new ArgumentException($"RAM regions at 0x{_regions[i - 1].Gpa:x} and 0x{gpa:x} overlap.", nameof(regions));
        }
    }

    public bool Contains(ulong gpa, ulong length) => RegionOf(gpa, length) >= 0;

    public Span<byte> Slice(ulong gpa, int length)
    {
        int index = length < 0 ? -1 : RegionOf(gpa, (ulong)length);
        if (index < 0)
            throw new GuestMemoryRangeException(gpa, (ulong)(long)length);
        var (start, ram) = _regions[index];
        return ram.Slice(gpa - start, length);
    }

    private int RegionOf(ulong gpa, ulong length)
    {
        for (int i = 0; i < _regions.Length; i++)
        {
            var (start, ram) = _regions[i];
            if (gpa >= start && gpa - start < ram.Size && length <= ram.Size - (gpa - start))
                return i;
        }
        return -1;
    }
}
