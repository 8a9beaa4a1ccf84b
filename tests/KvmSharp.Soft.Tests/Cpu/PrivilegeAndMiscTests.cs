using Iced.Intel;
using KvmSharp.Soft.Cpu;
using static Iced.Intel.AssemblerRegisters;

namespace KvmSharp.Soft.Tests.Cpu;

public class PrivilegeAndMiscTests
{
    private const ulong Code = CpuTestMachine.CodeBase;

    private static CpuTestMachine LongMode(int cpl = 0)
    {
        var m = new CpuTestMachine();
        m.SetupLongMode(cpl);
        return m;
    }

    private static void AssertHandler(CpuTestMachine m, int vector)
    {
        CpuExitReason reason = m.Run();
        Assert.True(reason == CpuExitReason.Hlt, $"{reason} {m.Cpu.Exit.InternalError}");
        Assert.Equal(CpuTestMachine.AfterHandler(vector), m.Cpu.Rip);
    }

    [Theory]
    [InlineData("hlt")]
    [InlineData("cli")]
    [InlineData("rdmsr")]
    [InlineData("out")]
    [InlineData("mov cr3")]
    public void PrivilegedInstructionsAtCpl3_AreGp(string which)
    {
        using var m = LongMode(cpl: 3);
        m.LoadCode(Code, a =>
        {
            switch (which)
            {
                case "hlt": a.hlt(); break;
                case "cli": a.cli(); break;
                case "rdmsr": a.rdmsr(); break;
                case "out": a.@out(0x80, al); break;
                default: a.mov(cr3, rax); break;
            }
        });
        AssertHandler(m, X86.VectorGeneralProtection);
        Assert.Equal(0UL, m.Memory.Read64(m.Cpu.Rsp));
    }

    [Fact]
    public void IoPermissionBitmap_AllowsListedPortsAtCpl3()
    {
        using var m = LongMode(cpl: 3);
        // Bitmap at TSS+0x68 covering ports 0..15: port 0x80 is beyond it, so extend the limit and clear port 0x80's bit.
        m.Memory.Write16(CpuTestMachine.TssBase + 0x66, 0x68);
        for (int i = 0; i < 0x20; i++) m.Memory.Write8(CpuTestMachine.TssBase + 0x68 + (ulong)i, 0xFF);
        m.Memory.Write8(CpuTestMachine.TssBase + 0x68 + 0x10, 0xFE); // port 0x80 allowed
        m.Cpu.Tr = m.Cpu.Tr with { Limit = 0x68 + 0x20 };
        m.LoadCode(Code, a => { a.@out(0x80, al); a.@out(0x81, al); });
        Assert.Equal(CpuExitReason.Io, m.Run());
        Assert.Equal((ushort)0x80, m.Cpu.Exit.IoPort);
        AssertHandler(m, X86.VectorGeneralProtection);
    }

    [Fact]
    public void Iopl3_AllowsIoAndCliAtCpl3()
    {
        using var m = LongMode(cpl: 3);
        m.Cpu.Rflags |= X86.FlagIopl;
        m.LoadCode(Code, a => { a.cli(); a.@in(al, 0x60); });
        Assert.Equal(CpuExitReason.Io, m.Run());
    }

    [Fact]
    public void Nmi_IsDeliveredAndMaskedUntilIret()
    {
        using var m = LongMode();
        const ulong nmiHandler = 0x4800;
        m.Memory.Write(nmiHandler, CpuTestMachine.Assemble(64, nmiHandler, a => { a.inc(r15); a.iretq(); }));
        m.SetIdtGate(X86.VectorNmi, nmiHandler, dpl: 0, ist: 0, trap: false);
        m.LoadCode(Code, a => { var top = a.CreateLabel(); a.Label(ref top); a.nop(); a.jmp(top); });
        m.Cpu.NmiPending = true;
        Assert.Equal(CpuExitReason.BudgetExhausted, m.Cpu.Run(1)); // delivery, then one handler instruction
        Assert.True(m.Cpu.NmiMasked);
        m.Cpu.NmiPending = true; // a second NMI waits for IRET
        Assert.Equal(CpuExitReason.BudgetExhausted, m.Cpu.Run(1));
        Assert.Equal(1UL, m.Cpu.Gpr[15]);
        Assert.Equal(CpuExitReason.BudgetExhausted, m.Cpu.Run(3));
        Assert.Equal(2UL, m.Cpu.Gpr[15]);
    }

    [Fact]
    public void RepStos_FaultMidway_LeavesRegistersAtTheFaultingElement()
    {
        using var m = LongMode();
        m.ChangePte(0x151000, clear: 1, set: 0);
        m.LoadCode(Code, a => { a.mov(edi, 0x150F00); a.mov(ecx, 0x200); a.mov(al, 0xEE); a.rep.stosb(); });
        AssertHandler(m, X86.VectorPageFault);
        Assert.Equal(0x151000UL, m.Cpu.Rdi);
        Assert.Equal(0x100UL, m.Cpu.Rcx);
        Assert.Equal(0xEE, m.Memory.Read8(0x150FFF));
        Assert.Equal(0x151000UL, m.Cpu.Cr2);
    }

    [Fact]
    public void StringOpsGoDownWithDf()
    {
        using var m = LongMode();
        m.Memory.Write(0x200000, "abcd"u8);
        m.LoadCode(Code, a =>
        {
            a.std();
            a.mov(esi, 0x200003); a.mov(edi, 0x201003); a.mov(ecx, 4); a.rep.movsb();
            a.cld();
            a.hlt();
        });
        Assert.Equal(CpuExitReason.Hlt, m.Run());
        Assert.Equal("abcd"u8.ToArray(), m.Memory.Span(0x201000, 4).ToArray());
        Assert.Equal(0x1FFFFFUL, m.Cpu.Rsi);
    }

    [Fact]
    public void BtWithNegativeRegisterOffset_AddressesBelowTheOperand()
    {
        using var m = LongMode();
        m.Memory.Write8(0x200000 - 1, 0x80);
        m.LoadCode(Code, a => { a.mov(edi, 0x200000); a.mov(rax, -1L); a.bt(__qword_ptr[rdi], rax); a.setc(bl); a.hlt(); });
        Assert.Equal(CpuExitReason.Hlt, m.Run());
        Assert.Equal(1UL, m.Cpu.Rbx & 0xFF);
    }

    [Fact]
    public void EnterWithNestingLevel_CopiesFramePointers()
    {
        using var m = LongMode();
        m.LoadCode(Code, a =>
        {
            a.mov(rbp, 0x7FF00);
            a.mov(__qword_ptr[0x7FF00 - 8], 0xAAAA);
            a.enter(16, 2);
            a.hlt();
        });
        Assert.Equal(CpuExitReason.Hlt, m.Run());
        ulong frame = CpuTestMachine.StackTop - 8;
        Assert.Equal(frame, m.Cpu.Rbp);
        Assert.Equal(0x7FF00UL, m.Memory.Read64(frame));          // old RBP
        Assert.Equal(0xAAAAUL, m.Memory.Read64(frame - 8));       // copied outer frame pointer
        Assert.Equal(frame, m.Memory.Read64(frame - 16));          // the new frame pointer
        Assert.Equal(frame - 16 - 16, m.Cpu.Rsp);
    }

    [Fact]
    public void PopfAtCpl3_CannotChangeIoplOrIf()
    {
        using var m = LongMode(cpl: 3);
        m.Cpu.Rflags = X86.FlagReserved1 | X86.FlagInterrupt;
        m.LoadCode(Code, a => { a.push(0x3002); a.popfq(); a.pushfq(); a.pop(rax); a.ud2(); });
        AssertHandler(m, X86.VectorInvalidOpcode);
        Assert.Equal(X86.FlagReserved1 | X86.FlagInterrupt, m.Cpu.Rax & (X86.FlagIopl | X86.FlagInterrupt | X86.FlagReserved1));
    }

    [Fact]
    public void DescriptorTablesAndTaskRegister()
    {
        using var m = LongMode();
        // Mark the TSS available again so LTR accepts it.
        m.Memory.Write8(CpuTestMachine.GdtBase + 0x40 + 5, 0x89);
        m.LoadCode(Code, a =>
        {
            a.mov(eax, CpuTestMachine.TssSelector);
            a.ltr(ax);
            a.str(ebx);
            a.sgdt(__[0x200000]);
            a.sidt(__[0x200010]);
            a.hlt();
        });
        Assert.Equal(CpuExitReason.Hlt, m.Run());
        Assert.Equal((ulong)CpuTestMachine.TssSelector, m.Cpu.Rbx);
        Assert.Equal(0x8B, m.Memory.Read8(CpuTestMachine.GdtBase + 0x40 + 5)); // busy
        Assert.Equal((ushort)0x4F, m.Memory.Read16(0x200000));
        Assert.Equal(CpuTestMachine.GdtBase, m.Memory.Read64(0x200002));
        Assert.Equal(CpuTestMachine.IdtBase, m.Memory.Read64(0x200012));
        Assert.Equal(CpuTestMachine.TssBase, m.Cpu.Tr.Base);
    }

    [Fact]
    public void TryTranslate_WalksWithoutSideEffects()
    {
        using var m = LongMode();
        ulong pte = CpuTestMachine.PageTable + (0x150000 >> 12) * 8;
        Assert.True(m.Cpu.TryTranslate(0x150123, out ulong physical, out bool writable, out bool user));
        Assert.Equal(0x150123UL, physical);
        Assert.True(writable && user);
        Assert.Equal(0UL, m.Memory.Read64(pte) & 0x20);
        m.ChangePte(0x150000, clear: 1, set: 0);
        Assert.False(m.Cpu.TryTranslate(0x150123, out _, out _, out _));
    }

    [Fact]
    public void GuestDataBreakpoint_TrapsAfterTheWrite()
    {
        using var m = LongMode();
        m.Cpu.Dr0 = 0x200000;
        m.Cpu.Dr7 = X86.Dr7Fixed | 1 | (1UL << 16) | (3UL << 18); // L0, write, 4 bytes
        byte[] code = m.LoadCode(Code, a =>
        {
            a.mov(eax, __dword_ptr[0x200000]);  // reads do not match a write breakpoint
            a.mov(__byte_ptr[0x200002], 7);
            a.nop();
        });
        AssertHandler(m, X86.VectorDebug);
        Assert.Equal(Code + (ulong)code.Length - 1, m.Memory.Read64(m.Cpu.Rsp));
        Assert.Equal(1UL, m.Cpu.Dr6 & 0xF);
        Assert.Equal(7, m.Memory.Read8(0x200002));
    }

    [Fact]
    public void GuestDebugWatchpoint_ExitsAfterTheAccess()
    {
        using var m = LongMode();
        m.Cpu.GuestDebug = new GuestDebugSettings
        {
            Enabled = true, UseHardwareBreakpoints = true, Dr1 = 0x200010, Dr7 = (1UL << 2) | (3UL << 20) | (2UL << 22), // L1, read/write, 8 bytes
        };
        byte[] code = m.LoadCode(Code, a => { a.nop(); a.mov(rax, __qword_ptr[0x200010]); a.nop(); a.hlt(); });
        Assert.Equal(CpuExitReason.Debug, m.Run());
        Assert.Equal(2UL, m.Cpu.Exit.DebugDr6 & 0xF);
        Assert.Equal(Code + (ulong)code.Length - 2, m.Cpu.Rip); // stopped after the load, before the NOP
    }
}
