using System.Buffers.Binary;

namespace KvmSharp.Vmm.Boot;

/// <summary>
/// struct boot_params, the "zero page" of arch/x86/include/uapi/asm/bootparam.h,
/// filled the way a boot loader does before jumping to the 64-bit entry.
/// </summary>
public sealed class ZeroPage
{
    public const int Size = 4096;
    public const int AcpiRsdpAddrOffset = 0x070;
    public const int ExtRamdiskImageOffset = 0x0C0;
    public const int ExtRamdiskSizeOffset = 0x0C4;
    public const int ExtCmdLinePtrOffset = 0x0C8;
    public const int E820EntriesOffset = 0x1E8;
    /// <summary>edd_mbr_sig_buffer: the setup header can reach no further than this.</summary>
    public const int SetupHeaderLimit = 0x290;
    public const int E820TableOffset = 0x2D0;
    public const int MaxE820Entries = 128;

    public const byte LoaderTypeUndefined = 0xFF;
    /// <summary>The conventional end of the real-mode setup heap, which boot loaders report as-is for a 64-bit entry.</summary>
    public const ushort HeapEndPtr = 0xFE00;

    private readonly byte[] _bytes = new byte[Size];

    /// <summary>Starts from the kernel's own setup header (bzImage) or a synthesized one (vmlinux).</summary>
    public ZeroPage(ReadOnlySpan<byte> setupHeader)
    {
        setupHeader[..Math.Min(setupHeader.Length, SetupHeaderLimit - SetupHeader.Offset)].CopyTo(_bytes.AsSpan(SetupHeader.Offset));
        _bytes[SetupHeader.TypeOfLoaderOffset] = LoaderTypeUndefined;
        _bytes[SetupHeader.LoadFlagsOffset] |= SetupHeader.CanUseHeap;
        U16(SetupHeader.HeapEndPtrOffset, HeapEndPtr);
    }

    public ZeroPage SetCommandLine(ulong address)
    {
        U32(SetupHeader.CmdLinePtrOffset, (uint)address);
        U32(ExtCmdLinePtrOffset, (uint)(address >> 32));
        return this;
    }

    public ZeroPage SetRamdisk(ulong address, ulong size)
    {
        U32(SetupHeader.RamdiskImageOffset, (uint)address);
        U32(SetupHeader.RamdiskSizeOffset, (uint)size);
        U32(ExtRamdiskImageOffset, (uint)(address >> 32));
        U32(ExtRamdiskSizeOffset, (uint)(size >> 32));
        return this;
    }

    public ZeroPage SetAcpiRsdp(ulong address)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(_bytes.AsSpan(AcpiRsdpAddrOffset), address);
        return this;
    }

    public ZeroPage SetE820(IReadOnlyList<E820Entry> map)
    {
        if (map.Count > MaxE820Entries)
            throw new BootImageException($"The memory map has {map.Count} entries; boot_params holds {MaxE820Entries}.");
        _bytes[E820EntriesOffset] = (byte)map.Count;
        for (int i = 0; i < map.Count; i++)
        {
            var entry = _bytes.AsSpan(E820TableOffset + i * E820Entry.BootParamsSize, E820Entry.BootParamsSize);
            BinaryPrimitives.WriteUInt64LittleEndian(entry, map[i].Address);
            BinaryPrimitives.WriteUInt64LittleEndian(entry[8..], map[i].Size);
            BinaryPrimitives.WriteUInt32LittleEndian(entry[16..], (uint)map[i].Type);
        }
        return this;
    }

    public byte[] ToArray() => (byte[])_bytes.Clone();

    private void U16(int offset, ushort value) => BinaryPrimitives.WriteUInt16LittleEndian(_bytes.AsSpan(offset), value);

    private void U32(int offset, uint value) => BinaryPrimitives.WriteUInt32LittleEndian(_bytes.AsSpan(offset), value);
}
