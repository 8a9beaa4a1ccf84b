using System.Buffers.Binary;
using KvmSharp.Abi;

namespace KvmSharp.Vmm.Boot;

/// <summary>
/// Loads an uncompressed vmlinux (ELF64) for the 64-bit boot protocol: segments
/// at their physical addresses, boot_params with a synthesized setup header,
/// and vCPU state at the ELF entry point (startup_64) with RSI = boot_params.
/// </summary>
public static class VmlinuxLoader
{
    /// <summary>The protocol version the synthesized header claims; 2.15 is what 6.x kernels speak.</summary>
    public const ushort SynthesizedVersion = 0x020F;
    public const uint SynthesizedInitrdAddrMax = 0x7FFF_FFFF;
    public const uint SynthesizedCmdlineSize = 2047;

    public static BootPlan Load(ReadOnlyMemory<byte> image, LinuxBootOptions options) => Load(ElfImage.Parse(image), options);

    public static BootPlan Load(ElfImage elf, LinuxBootOptions options)
    {
        var layout = new GuestMemoryLayout(options.MemorySize);
        var kernel = ElfKernel.Place(elf, layout);
        ulong entry = kernel.Entry ?? throw new BootImageException($"The ELF kernel's entry point 0x{elf.Entry:x} lies in none of its segments.");
        byte[] commandLine = BootPlacement.CommandLine(options.CommandLine, SynthesizedCmdlineSize);
        var writes = BootPlacement.CommonWrites(commandLine, options.Firmware);
        writes.AddRange(kernel.Writes);

        var map = layout.E820Map();
        var zeroPage = new ZeroPage(SynthesizedHeader()).SetCommandLine(GuestMemoryLayout.CommandLineAddress).SetE820(map).SetAcpiRsdp(options.Firmware.RsdpAddress);
        if (!options.Initrd.IsEmpty)
        {
            ulong limit = Math.Min((ulong)SynthesizedInitrdAddrMax + 1, layout.LowRamEnd);
            ulong address = BootPlacement.Initrd((ulong)options.Initrd.Length, (kernel.End + 0xFFF) & ~0xFFFUL, limit, "the end of RAM below 2 GiB");
            writes.Add(new BootWrite("initrd", address, options.Initrd));
            zeroPage.SetRamdisk(address, (ulong)options.Initrd.Length);
        }
        writes.Add(new BootWrite("boot_params", GuestMemoryLayout.ZeroPageAddress, zeroPage.ToArray()));

        var regs = new KvmRegs
        {
            Rip = entry,
            Rsi = GuestMemoryLayout.ZeroPageAddress,
            Rsp = GuestMemoryLayout.BootStackTop,
            Rflags = 2,
        };
        return new BootPlan(layout, EntryMode.Long64, regs, writes, map);
    }

    /// <summary>The setup header fields a vmlinux, which has none, is expected to find (as a bzImage's setup code would leave them).</summary>
    private static byte[] SynthesizedHeader()
    {
        var header = new byte[0x268 - SetupHeader.Offset];
        Span<byte> at(int offset) => header.AsSpan(offset - SetupHeader.Offset);
        BinaryPrimitives.WriteUInt16LittleEndian(at(SetupHeader.BootFlagOffset), SetupHeader.BootFlagMagic);
        BinaryPrimitives.WriteUInt32LittleEndian(at(SetupHeader.MagicOffset), SetupHeader.HeaderMagic);
        BinaryPrimitives.WriteUInt16LittleEndian(at(SetupHeader.VersionOffset), SynthesizedVersion);
        at(SetupHeader.LoadFlagsOffset)[0] = SetupHeader.LoadedHigh;
        BinaryPrimitives.WriteUInt32LittleEndian(at(SetupHeader.InitrdAddrMaxOffset), SynthesizedInitrdAddrMax);
        BinaryPrimitives.WriteUInt32LittleEndian(at(SetupHeader.KernelAlignmentOffset), 0x20_0000);
        BinaryPrimitives.WriteUInt16LittleEndian(at(SetupHeader.XLoadFlagsOffset), SetupHeader.XlfKernel64);
        BinaryPrimitives.WriteUInt32LittleEndian(at(SetupHeader.CmdlineSizeOffset), SynthesizedCmdlineSize);
        return header;
    }
}
