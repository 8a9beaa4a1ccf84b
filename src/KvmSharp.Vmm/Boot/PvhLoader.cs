using System.Buffers.Binary;
using KvmSharp.Abi;

namespace KvmSharp.Vmm.Boot;

/// <summary>
/// Loads an ELF kernel through PVH (xen/include/public/arch-x86/hvm/start_info.h):
/// segments at their physical addresses, an hvm_start_info with the memory map,
/// command line, RSDP and the initrd as module 0, and 32-bit protected-mode
/// entry at the XEN_ELFNOTE_PHYS32_ENTRY address with EBX = the start info.
/// </summary>
public static class PvhLoader
{
    public const uint XenElfNotePhys32Entry = 18;
    public const uint StartInfoMagic = 0x336E_C578;
    /// <summary>Version 1 adds the memory map.</summary>
    public const uint StartInfoVersion = 1;
    public const int StartInfoSize = 56;
    public const int ModuleEntrySize = 32;
    public const int MemmapEntrySize = 24;

    public const ulong StartInfoAddress = GuestMemoryLayout.ZeroPageAddress;
    public const ulong ModuleListAddress = StartInfoAddress + 0x40;
    public const ulong MemmapAddress = StartInfoAddress + 0x80;

    /// <summary>The 32-bit physical entry point of an ELF kernel's PVH note, or null if it has none.</summary>
    public static uint? EntryPoint(ElfImage elf)
    {
        var note = elf.Notes.FirstOrDefault(n => n.Name == "Xen" && n.Type == XenElfNotePhys32Entry);
        if (note is null)
            return null;
        // Linux emits the address with _ASM_PTR (8 bytes on x86-64); the value is 32-bit either way.
        if (note.Descriptor.Length < 4)
            throw new BootImageException($"The kernel's XEN_ELFNOTE_PHYS32_ENTRY note has a {note.Descriptor.Length}-byte descriptor; 4 are needed.");
        return BinaryPrimitives.ReadUInt32LittleEndian(note.Descriptor.Span);
    }

    public static BootPlan Load(ReadOnlyMemory<byte> image, LinuxBootOptions options) => Load(ElfImage.Parse(image), options);

    public static BootPlan Load(ElfImage elf, LinuxBootOptions options)
    {
        uint entry = EntryPoint(elf) ?? throw new BootImageException("The ELF kernel has no PVH entry (no Xen note XEN_ELFNOTE_PHYS32_ENTRY); boot it as a vmlinux instead.");
        var layout = new GuestMemoryLayout(options.MemorySize);
        var kernel = ElfKernel.Place(elf, layout);
        if (!kernel.Writes.Any(w => entry >= w.Address && entry < w.Address + (ulong)w.Bytes.Length))
            throw new BootImageException($"The kernel's PVH entry 0x{entry:x} lies in none of its loaded segments.");
        byte[] commandLine = BootPlacement.CommandLine(options.CommandLine, VmlinuxLoader.SynthesizedCmdlineSize);
        var writes = BootPlacement.CommonWrites(commandLine, options.Firmware);
        writes.AddRange(kernel.Writes);

        var map = layout.E820Map();
        var startInfo = new byte[(int)(MemmapAddress - StartInfoAddress) + map.Count * MemmapEntrySize];
        BinaryPrimitives.WriteUInt32LittleEndian(startInfo, StartInfoMagic);
        BinaryPrimitives.WriteUInt32LittleEndian(startInfo.AsSpan(4), StartInfoVersion);
        BinaryPrimitives.WriteUInt64LittleEndian(startInfo.AsSpan(24), GuestMemoryLayout.CommandLineAddress);
        BinaryPrimitives.WriteUInt64LittleEndian(startInfo.AsSpan(32), options.Firmware.RsdpAddress);
        BinaryPrimitives.WriteUInt64LittleEndian(startInfo.AsSpan(40), MemmapAddress);
        BinaryPrimitives.WriteUInt32LittleEndian(startInfo.AsSpan(48), (uint)map.Count);
        for (int i = 0; i < map.Count; i++)
        {
            var entrySpan = startInfo.AsSpan((int)(MemmapAddress - StartInfoAddress) + i * MemmapEntrySize);
            BinaryPrimitives.WriteUInt64LittleEndian(entrySpan, map[i].Address);
            BinaryPrimitives.WriteUInt64LittleEndian(entrySpan[8..], map[i].Size);
            BinaryPrimitives.WriteUInt32LittleEndian(entrySpan[16..], (uint)map[i].Type);
        }
        if (!options.Initrd.IsEmpty)
        {
            ulong address = BootPlacement.Initrd((ulong)options.Initrd.Length, (kernel.End + 0xFFF) & ~0xFFFUL, layout.LowRamEnd, "the end of low RAM");
            writes.Add(new BootWrite("initrd", address, options.Initrd));
            BinaryPrimitives.WriteUInt32LittleEndian(startInfo.AsSpan(12), 1);
            BinaryPrimitives.WriteUInt64LittleEndian(startInfo.AsSpan(16), ModuleListAddress);
            var module = startInfo.AsSpan((int)(ModuleListAddress - StartInfoAddress), ModuleEntrySize);
            BinaryPrimitives.WriteUInt64LittleEndian(module, address);
            BinaryPrimitives.WriteUInt64LittleEndian(module[8..], (ulong)options.Initrd.Length);
        }
        writes.Add(new BootWrite("hvm_start_info", StartInfoAddress, startInfo));

        var regs = new KvmRegs { Rip = entry, Rbx = StartInfoAddress, Rflags = 2 };
        return new BootPlan(layout, EntryMode.Protected32, regs, writes, map);
    }
}
