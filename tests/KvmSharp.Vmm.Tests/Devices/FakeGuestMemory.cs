using KvmSharp.Vmm.Devices;

namespace KvmSharp.Vmm.Tests.Devices;

/// <summary>
/// Guest RAM in a managed array that counts and throws on every access outside
/// it: a device that asks for such a range has a bug, since it must check
/// <see cref="Contains"/> first. It may claim to be larger than the array (to
/// reach checks that only huge RAM exposes); touching the unbacked part counts
/// as out of range too.
/// </summary>
public sealed class FakeGuestMemory(int size, ulong? claimedSize = null) : IGuestMemory
{
    public byte[] Ram { get; } = new byte[size];

    public ulong ClaimedSize { get; } = claimedSize ?? (ulong)size;

    public int OutOfRangeAccesses { get; private set; }

    public bool Contains(ulong gpa, ulong length) => gpa <= ClaimedSize && length <= ClaimedSize - gpa;

    public Span<byte> Slice(ulong gpa, int length)
    {
        if (length < 0 || gpa > (ulong)Ram.Length || (ulong)length > (ulong)Ram.Length - gpa)
        {
            OutOfRangeAccesses++;
            throw new GuestMemoryRangeException(gpa, (ulong)(long)length);
        }
        return Ram.AsSpan((int)gpa, length);
    }
}

/// <summary>An interrupt line that remembers its level and counts rising edges.</summary>
public sealed class RecordingInterruptLine : IInterruptLine
{
    public bool Level { get; private set; }

    public int RisingEdges { get; private set; }

    public void Set(bool asserted)
    {
        if (asserted && !Level)
            RisingEdges++;
        Level = asserted;
    }
}

