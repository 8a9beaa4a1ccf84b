namespace KvmSharp.Vmm.Devices;

/// <summary>
/// One device's address range on a bus, and how often the guest reached it:
/// each count is one exit the VMM handled for that device.
/// </summary>
public sealed class BusRegistration
{
    private long _reads, _writes;

    internal BusRegistration(string name, ulong start, ulong length, IBusDevice device)
    {
        Name = name;
        Start = start;
        Length = length;
        Device = device;
    }

    public string Name { get; }

    public ulong Start { get; }

    public ulong Length { get; }

    /// <summary>The last address in the range (inclusive, so a range may end at the top of the space).</summary>
    public ulong Last => Start + (Length - 1);

    public IBusDevice Device { get; }

    public long Reads => Interlocked.Read(ref _reads);

    public long Writes => Interlocked.Read(ref _writes);

    internal void CountRead() => Interlocked.Increment(ref _reads);

    internal void CountWrite() => Interlocked.Increment(ref _writes);

    public override string ToString() => $"{Name} [0x{Start:x}, 0x{Last:x}]";
}
