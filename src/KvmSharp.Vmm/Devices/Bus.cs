namespace KvmSharp.Vmm.Devices;

/// <summary>
/// Address ranges mapped to devices. Registration happens while the machine is
/// built; lookups come from every vCPU thread at once and take no lock (the
/// table is replaced whole on registration). An access is delivered to a device
/// only if it lies entirely inside the device's range; anything else is
/// answered as on a PC where nothing decodes the address: reads return all
/// ones, writes are dropped.
/// </summary>
public abstract class Bus
{
    private readonly object _registrationLock = new();
    private BusRegistration[] _ranges = [];
    private long _unclaimedReads, _unclaimedWrites;

    protected Bus(string name, ulong addressLimit)
    {
        Name = name;
        AddressLimit = addressLimit;
    }

    public string Name { get; }

    /// <summary>The last valid address of this bus's space (inclusive).</summary>
    public ulong AddressLimit { get; }

    public IReadOnlyList<BusRegistration> Registrations => Volatile.Read(ref _ranges);

    public long UnclaimedReads => Interlocked.Read(ref _unclaimedReads);

    public long UnclaimedWrites => Interlocked.Read(ref _unclaimedWrites);

    /// <summary>Maps [start, start + length) to the device; refuses ranges that overlap one already mapped.</summary>
    public BusRegistration Register(ulong start, ulong length, IBusDevice device, string name)
    {
        ArgumentNullException.ThrowIfNull(device);
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        if (length == 0)
            throw new ArgumentOutOfRangeException(nameof(length), $"{name}: a {Name} range cannot be empty.");
        if (start > AddressLimit || length - 1 > AddressLimit - start)
            throw new ArgumentOutOfRangeException(nameof(start), $"{name}: [0x{start:x}, +0x{length:x}) does not fit the {Name} space, which ends at 0x{AddressLimit:x}.");
        var registration = new BusRegistration(name, start, length, device);
        lock (_registrationLock)
        {
            var ranges = _ranges;
            foreach (var existing in ranges)
                if (registration.Start <= existing.Last && existing.Start <= registration.Last)
                    throw new InvalidOperationException($"{name} at [0x{registration.Start:x}, 0x{registration.Last:x}] overlaps {existing} on the {Name}.");
            var grown = ranges.Append(registration).OrderBy(r => r.Start).ToArray();
            Volatile.Write(ref _ranges, grown);
        }
        return registration;
    }

    /// <summary>The registration covering the whole access, or null.</summary>
    public BusRegistration? Find(ulong address, int width)
    {
        var ranges = Volatile.Read(ref _ranges);
        int low = 0, high = ranges.Length - 1;
        while (low <= high)
        {
            int middle = (low + high) >>> 1;
            var candidate = ranges[middle];
            if (address < candidate.Start)
                high = middle - 1;
            else if (address > candidate.Last)
                low = middle + 1;
            else
                return width > 0 && (ulong)(width - 1) <= candidate.Last - address ? candidate : null;
        }
        return null;
    }

    /// <summary>Reads from the device at the address; true when a device answered, false when the bus answered all ones.</summary>
    public bool Read(ulong address, Span<byte> data)
    {
        var registration = Find(address, data.Length);
        if (registration is null)
        {
            data.Fill(0xFF);
            Interlocked.Increment(ref _unclaimedReads);
            return false;
        }
        registration.CountRead();
        registration.Device.Read(address - registration.Start, data);
        return true;
    }

    /// <summary>Writes to the device at the address; true when a device took the write, false when it was dropped.</summary>
    public bool Write(ulong address, ReadOnlySpan<byte> data)
    {
        var registration = Find(address, data.Length);
        if (registration is null)
        {
            Interlocked.Increment(ref _unclaimedWrites);
            return false;
        }
        registration.CountWrite();
        registration.Device.Write(address - registration.Start, data);
        return true;
    }
}

/// <summary>The x86 I/O port space: 64 Ki ports.</summary>
public sealed class PioBus() : Bus("PIO bus", 0xFFFF)
{
    /// <summary>
    /// Serves a KVM_EXIT_IO: <paramref name="data"/> holds <paramref name="count"/>
    /// elements of <paramref name="size"/> bytes (a REP string instruction), each
    /// one access to the same port.
    /// </summary>
    public void Dispatch(ushort port, bool isOut, int size, uint count, Span<byte> data)
    {
        for (int i = 0; i < count && (i + 1) * size <= data.Length; i++)
        {
            var element = data.Slice(i * size, size);
            if (isOut)
                Write(port, element);
            else
                Read(port, element);
        }
    }
}

/// <summary>Guest-physical addresses that are not RAM and exit to the VMM.</summary>
public sealed class MmioBus() : Bus("MMIO bus", ulong.MaxValue)
{
    /// <summary>Serves a KVM_EXIT_MMIO.</summary>
    public void Dispatch(ulong address, bool isWrite, Span<byte> data)
    {
        if (isWrite)
            Write(address, data);
        else
            Read(address, data);
    }
}
