using Iced.Intel;
using KvmSharp.Soft.Cpu;
using static Iced.Intel.AssemblerRegisters;

namespace KvmSharp.Soft.Tests.Cpu;

/// <summary>32-bit protected mode with 2-level (PSE) and PAE paging, and 64-bit compatibility mode.</summary>
public class LegacyPagingTests
{
    private const ulong Code = CpuTestMachine.CodeBase;
    private const ulong Directory = 0x10000;
    private const ulong Table = 0x11000;

    private static void LegacyTables(CpuTestMachine m)
    {
        // PDE0 -> 4 KiB identity table for 0..4 MiB; PDE1 -> 4 MiB page at physical 8 MiB.
        m.Memory.Write32(Directory, (uint)Table | 0x7);
        for (uint i = 0; i < 1024; i++) m.Memory.Write32(Table + i * 4, (i << 12) | 0x7);
        m.Memory.Write32(Directory + 4, 0x800000 | 0x80 | 0x7);
    }

    [Fact]
    public void TwoLevelPaging_4KAnd4MPages()
    {
        using var m = CpuTestMachine.Protected32(X86.Cr0Pg | X86.Cr0Wp, X86.Cr4Pse, Directory);
        LegacyTables(m);
        m.LoadCode(Code, a => { a.mov(__dword_ptr[0x400010], 0xCAFE); a.mov(eax, __dword_ptr[0x400010]); a.hlt(); }, bitness: 32);
        Assert.Equal(CpuExitReason.Hlt, m.Run());
        Assert.Equal(0xCAFEUL, m.Cpu.Rax);
        Assert.Equal(0xCAFEu, m.Memory.Read32(0x800010));
        Assert.Equal(0x60u, m.Memory.Read32(Directory + 4) & 0x60); // A and D on the 4 MiB PDE
    }

    [Fact]
    public void TwoLevelPaging_NotPresent_PushesErrorCodeThroughInterruptGate()
    {
        using var m = CpuTestMachine.Protected32(X86.Cr0Pg | X86.Cr0Wp, X86.Cr4Pse, Directory);
        LegacyTables(m);
        m.Memory.Write32(Table + (0x150000 >> 12) * 4, 0);
        m.LoadCode(Code, a => { a.mov(__byte_ptr[0x150123], 1); }, bitness: 32);
        Assert.Equal(CpuExitReason.Hlt, m.Run());
        Assert.Equal(CpuTestMachine.AfterHandler(X86.VectorPageFault), m.Cpu.Rip);
        ulong esp = m.Cpu.Rsp;
        Assert.Equal(CpuTestMachine.StackTop - 16, esp);            // error code, EIP, CS, EFLAGS
        Assert.Equal((uint)X86.PageFaultWrite, m.Memory.Read32(esp));
        Assert.Equal((uint)Code, m.Memory.Read32(esp + 4));
        Assert.Equal(0x08u, m.Memory.Read32(esp + 8));
        Assert.Equal(0x150123UL, m.Cpu.Cr2);
    }

    [Fact]
    public void TwoLevelPaging_NoInstructionFetchBitWithoutNx()
    {
        using var m = CpuTestMachine.Protected32(X86.Cr0Pg, X86.Cr4Pse, Directory);
        LegacyTables(m);
        m.Memory.Write32(Table + (0x150000 >> 12) * 4, 0);
        m.LoadCode(Code, a => { a.mov(eax, 0x150000); a.jmp(eax); }, bitness: 32);
        Assert.Equal(CpuExitReason.Hlt, m.Run());
        Assert.Equal(0u, m.Memory.Read32(m.Cpu.Rsp));
    }

    [Fact]
    public void PaePaging_2MPage_AndNxFetch()
    {
        const ulong pdpt = 0x10000, pd = 0x11000, pt = 0x12000;
        using var m = CpuTestMachine.Protected32(X86.Cr0Pg | X86.Cr0Wp, X86.Cr4Pae, pdpt);
        m.Cpu.Efer = X86.EferNxe;
        m.Cpu.NotifyStateChanged();
        m.Memory.Write64(pdpt, pd | 1);
        m.Memory.Write64(pd, pt | 0x7);
        for (ulong i = 0; i < 512; i++) m.Memory.Write64(pt + i * 8, (i << 12) | 0x7);
        m.Memory.Write64(pd + 8, 0x600000 | 0x80 | 0x7);                     // linear 2 MiB -> physical 6 MiB
        m.Memory.Write64(pt + (0x150000 >> 12) * 8, 0x150000 | 0x7 | (1UL << 63)); // NX
        m.LoadCode(Code, a =>
        {
            a.mov(__dword_ptr[0x200040], 0x1234);
            a.mov(eax, 0x150000);
            a.jmp(eax);
        }, bitness: 32);
        Assert.Equal(CpuExitReason.Hlt, m.Run());
        Assert.Equal(0x1234u, m.Memory.Read32(0x600040));
        Assert.Equal(CpuTestMachine.AfterHandler(X86.VectorPageFault), m.Cpu.Rip);
        Assert.Equal((uint)(X86.PageFaultPresent | X86.PageFaultInstructionFetch), m.Memory.Read32(m.Cpu.Rsp));
        Assert.Equal(0x150000UL, m.Cpu.Cr2);
    }

    [Fact]
    public void Cr3Reload_FlushesNonGlobal_KeepsGlobal()
    {
        using var m = CpuTestMachine.Protected32(X86.Cr0Pg, X86.Cr4Pse | X86.Cr4Pge, Directory);
        LegacyTables(m);
        const ulong globalPage = 0x150000, localPage = 0x151000;
        m.Memory.Write32(Table + (globalPage >> 12) * 4, (uint)globalPage | 0x107);
        m.Memory.Write32(0x152000, 2);
        m.Memory.Write32(0x153000, 3);
        m.LoadCode(Code, a =>
        {
            a.mov(eax, __dword_ptr[globalPage]);
            a.mov(eax, __dword_ptr[localPage]);
            // Remap both to other frames without INVLPG, then reload CR3.
            a.mov(__dword_ptr[Table + (globalPage >> 12) * 4], 0x152107);
            a.mov(__dword_ptr[Table + (localPage >> 12) * 4], 0x153007);
            a.mov(eax, cr3);
            a.mov(cr3, eax);
            a.mov(ebx, __dword_ptr[globalPage]); // global: stale translation survives (old frame holds 0)
            a.mov(ecx, __dword_ptr[localPage]);  // non-global: must see the new frame
            a.hlt();
        }, bitness: 32);
        Assert.Equal(CpuExitReason.Hlt, m.Run());
        Assert.Equal(3UL, m.Cpu.Rcx);
        Assert.Equal(0UL, m.Cpu.Rbx);
    }

    [Fact]
    public void MovSs_BlocksInterruptsForOneInstruction()
    {
        using var m = CpuTestMachine.Protected32(0, 0, 0);
        m.Cpu.Rflags |= X86.FlagInterrupt;
        m.LoadCode(Code, a => { a.mov(eax, 0x10); a.mov(ss, eax); a.nop(); a.hlt(); }, bitness: 32);
        Assert.Equal(CpuExitReason.BudgetExhausted, m.Cpu.Run(2));
        Assert.Equal(X86.ShadowMovSs, m.Cpu.InterruptShadow);
        Assert.False(m.Cpu.ReadyForInterruptInjection);
        Assert.Equal(CpuExitReason.BudgetExhausted, m.Cpu.Run(1));
        Assert.Equal(0, m.Cpu.InterruptShadow);
        Assert.True(m.Cpu.ReadyForInterruptInjection);
    }

    [Fact]
    public void CompatibilityMode_FarCallIntoLongModeAndBack()
    {
        using var m = new CpuTestMachine();
        m.SetupLongMode();
        // 32-bit kernel code segment at GDT 0x08 (compatibility mode under long mode).
        m.Memory.Write64(CpuTestMachine.GdtBase + 0x08, CpuTestMachine.Descriptor(code: true, 0, longMode: false));
        const ulong compat = 0x180000, back = 0x181000;
        m.Memory.Write(compat, CpuTestMachine.Assemble(32, compat, a =>
        {
            a.mov(eax, 0x32);
            a.push(eax);       // 32-bit push in compatibility mode
            a.pop(ebx);
            a.jmp(CpuTestMachine.KernelCs, (uint)back);
        }));
        m.Memory.Write(back, CpuTestMachine.Assemble(64, back, a => { a.mov(rcx, 0x64); a.hlt(); }));
        m.LoadCode(Code, a =>
        {
            a.push(0x08);
            a.push((int)compat);
            a.db(0x48, 0xCB); // retfq
        });
        Assert.Equal(CpuExitReason.Hlt, m.Run());
        Assert.Equal(0x32UL, m.Cpu.Rbx);
        Assert.Equal(0x64UL, m.Cpu.Rcx);
        Assert.Equal(64, m.Cpu.Bitness);
        Assert.Equal(CpuTestMachine.StackTop, m.Cpu.Rsp);
    }

    [Fact]
    public void SegmentNotPresent_IsNpWithSelector()
    {
        using var m = new CpuTestMachine();
        m.SetupLongMode();
        ulong notPresentData = CpuTestMachine.Descriptor(code: false, 0, false) & ~(1UL << 47);
        m.Memory.Write64(CpuTestMachine.GdtBase + 0x38, notPresentData);
        m.LoadCode(Code, a => { a.mov(eax, 0x38); a.mov(es, eax); });
        Assert.Equal(CpuExitReason.Hlt, m.Run());
        Assert.Equal(CpuTestMachine.AfterHandler(X86.VectorSegmentNotPresent), m.Cpu.Rip);
        Assert.Equal(0x38UL, m.Memory.Read64(m.Cpu.Rsp));
    }
}
