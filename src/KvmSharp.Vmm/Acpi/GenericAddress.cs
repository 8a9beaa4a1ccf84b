using System.Buffers.Binary;

namespace KvmSharp.Vmm.Acpi;

/// <summary>An ACPI Generic Address Structure (12 bytes): where a register is and how wide.</summary>
public readonly record struct GenericAddress(byte SpaceId, byte BitWidth, byte BitOffset, byte AccessSize, ulong Address)
{
    public const int Size = 12;
    public const byte SystemMemory = 0;
    public const byte SystemIo = 1;
    public const byte ByteAccess = 1;

    /// <summary>An 8-bit I/O port register.</summary>
    public static GenericAddress IoPort8(ushort port) => new(SystemIo, 8, 0, ByteAccess, port);

    public void WriteTo(Span<byte> destination)
    {
        destination[0] = SpaceId;
        destination[1] = BitWidth;
        destination[2] = BitOffset;
        destination[3] = AccessSize;
        BinaryPrimitives.WriteUInt64LittleEndian(destination[4..], Address);
    }
}
