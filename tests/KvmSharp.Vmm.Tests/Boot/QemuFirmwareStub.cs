using Iced.Intel;
using KvmSharp.Vmm.Boot;
using KvmSharp.Vmm.Guests;
using static Iced.Intel.AssemblerRegisters;

namespace KvmSharp.Vmm.Tests.Boot;

/// <summary>
/// Lets QEMU run a boot plan: a 128 KiB "BIOS" holding the plan's BIOS-area
/// writes (ACPI, MP) and a reset-vector stub that does what a KVM runner does
/// with KVM_SET_SREGS/KVM_SET_REGS: load the plan's GDT, enter the plan's mode
/// (with its page tables for long mode) and jump to its RIP with RSI/RBX set.
/// The plan's other writes go to RAM through QEMU's generic loader device.
/// </summary>
internal static class QemuFirmwareStub
{
    private const ulong RomBase = 0xE0000;
    private const ulong Stub16 = 0xFF000, PseudoDescriptor = 0xFF100, Stub32 = 0xFF200, Stub64 = 0xFF300;

    public static byte[] Bios(BootPlan plan)
    {
        var rom = new byte[0x20000];
        foreach (var write in plan.Writes.Where(w => w.Address >= RomBase && w.Address < 0x100000))
            write.Bytes.Span.CopyTo(rom.AsSpan((int)(write.Address - RomBase)));

        // Real mode at F000:F000: cli; o32 lgdt cs:[0xF100]; set CR0.PE; jmp far 0x08:Stub32.
        byte[] real =
        [
            0xFA,
            0x2E, 0x66, 0x0F, 0x01, 0x16, .. Le16(PseudoDescriptor & 0xFFFF),
            0x0F, 0x20, 0xC0,
            0x66, 0x83, 0xC8, 0x01,
            0x0F, 0x22, 0xC0,
            0x66, 0xEA, .. BitConverter.GetBytes((uint)Stub32), .. Le16(BootGdt.Code32Selector),
        ];
        real.CopyTo(rom, (int)(Stub16 - RomBase));
        BitConverter.GetBytes((ushort)(BootGdt.Size - 1)).CopyTo(rom, (int)(PseudoDescriptor - RomBase));
        BitConverter.GetBytes((uint)GuestMemoryLayout.GdtAddress).CopyTo(rom, (int)(PseudoDescriptor - RomBase + 2));

        var protectedMode = new Assembler(32);
        protectedMode.mov(ax, BootGdt.DataSelector);
        protectedMode.mov(ds, ax);
        protectedMode.mov(es, ax);
        protectedMode.mov(ss, ax);
        protectedMode.mov(fs, ax);
        protectedMode.mov(gs, ax);
        if (plan.EntryMode == EntryMode.Protected32)
        {
            protectedMode.mov(ebx, (uint)plan.Regs.Rbx);
            protectedMode.mov(esi, (uint)plan.Regs.Rsi);
            protectedMode.mov(eax, (uint)plan.Regs.Rip);
            protectedMode.jmp(eax);
        }
        else
        {
            protectedMode.mov(eax, cr4);
            protectedMode.or(eax, 0x20);
            protectedMode.mov(cr4, eax);
            protectedMode.mov(eax, (uint)IdentityPageTables.Pml4Address);
            protectedMode.mov(cr3, eax);
            protectedMode.mov(ecx, 0xC000_0080);
            protectedMode.rdmsr();
            protectedMode.or(eax, 0x100);
            protectedMode.wrmsr();
            protectedMode.mov(eax, cr0);
            protectedMode.or(eax, unchecked((int)0x8000_0000));
            protectedMode.mov(cr0, eax);
            protectedMode.db([0xEA, .. BitConverter.GetBytes((uint)Stub64), .. Le16(BootGdt.Code64Selector)]);
        }
        AssembledCode.Assemble(protectedMode, Stub32).Bytes.CopyTo(rom, (int)(Stub32 - RomBase));

        var longMode = new Assembler(64);
        longMode.mov(rsi, plan.Regs.Rsi);
        longMode.mov(rsp, plan.Regs.Rsp);
        longMode.mov(rax, plan.Regs.Rip);
        longMode.jmp(rax);
        AssembledCode.Assemble(longMode, Stub64).Bytes.CopyTo(rom, (int)(Stub64 - RomBase));

        // The reset vector (F000:FFF0): jmp far F000:F000.
        byte[] reset = [0xEA, .. Le16(Stub16 & 0xFFFF), 0x00, 0xF0];
        reset.CopyTo(rom, 0x1FFF0);
        return rom;
    }

    private static byte[] Le16(ulong value) => BitConverter.GetBytes((ushort)value);
}
