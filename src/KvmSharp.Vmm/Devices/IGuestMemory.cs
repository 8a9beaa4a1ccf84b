namespace KvmSharp.Vmm.Devices;

/// <summary>
/// Guest RAM as devices reach it. A device asks <see cref="Contains"/> before
/// every <see cref="Slice"/>; <see cref="Slice"/> refuses (throws) any range
/// that is not wholly RAM, so a device bug can never touch host memory outside
/// the guest's.
/// </summary>
public interface IGuestMemory
{
    /// <summary>True when every byte of [gpa, gpa + length) is guest RAM (length 0 is in RAM if gpa is).</summary>
    bool Contains(ulong gpa, ulong length);

    /// <summary>The RAM at [gpa, gpa + length); throws <see cref="GuestMemoryRangeException"/> if it is not wholly RAM.</summary>
    Span<byte> Slice(ulong gpa, int length);
}

public sealed class GuestMemoryRangeException(ulong gpa, ulong length)
    : Exception($"[0x{gpa:x}, +0x{length:x}) is not guest RAM.")
{
    public ulong Gpa { get; } = gpa;

    public ulong Length { get; } = length;
}
