using Iced.Intel;
using KvmSharp.Soft.Cpu;
using static Iced.Intel.AssemblerRegisters;

namespace KvmSharp.Soft.Tests.Cpu;

public class ArithmeticTests
{
    private const ulong CF = X86.FlagCarry, PF = X86.FlagParity, AF = X86.FlagAdjust, ZF = X86.FlagZero, SF = X86.FlagSign, OF = X86.FlagOverflow;

    /// <summary>Runs <paramref name="build"/> followed by HLT in 64-bit mode and returns the CPU.</summary>
    private static CpuTestMachine RunSnippet(Action<Assembler> build)
    {
        var machine = new CpuTestMachine();
        machine.SetupLongMode();
        machine.LoadCode(CpuTestMachine.CodeBase, a =>
        {
            build(a);
            a.hlt();
        });
        Assert.Equal(CpuExitReason.Hlt, machine.Run());
        return machine;
    }

    private static ulong ArithmeticFlags(X86Cpu cpu) => cpu.Rflags & X86.ArithmeticFlags;

    [Fact]
    public void Add_SignedOverflow_SetsOfSfAfNotCf()
    {
        using var m = RunSnippet(a => { a.mov(al, 0x7F); a.add(al, 1); });
        Assert.Equal(0x80UL, m.Cpu.Rax & 0xFF);
        Assert.Equal(OF | SF | AF, ArithmeticFlags(m.Cpu));
    }

    [Fact]
    public void Add_UnsignedWrap_SetsCfZfPf()
    {
        using var m = RunSnippet(a => { a.mov(eax, 0xFFFFFFFF); a.add(eax, 1); });
        Assert.Equal(0UL, m.Cpu.Rax);
        Assert.Equal(CF | ZF | PF | AF, ArithmeticFlags(m.Cpu));
    }

    [Fact]
    public void Add64_CarryOut()
    {
        using var m = RunSnippet(a => { a.mov(rax, unchecked((long)0x8000000000000000)); a.mov(rbx, unchecked((long)0x8000000000000000)); a.add(rax, rbx); });
        Assert.Equal(0UL, m.Cpu.Rax);
        Assert.Equal(CF | ZF | PF | OF, ArithmeticFlags(m.Cpu));
    }

    [Fact]
    public void Sub_Borrow_SetsCfSf()
    {
        using var m = RunSnippet(a => { a.mov(eax, 1); a.sub(eax, 2); });
        Assert.Equal(0xFFFFFFFFUL, m.Cpu.Rax);
        Assert.Equal(CF | SF | PF | AF, ArithmeticFlags(m.Cpu));
    }

    [Fact]
    public void Adc_And_Sbb_UseCarry()
    {
        using var m = RunSnippet(a =>
        {
            a.stc();
            a.mov(eax, 5);
            a.adc(eax, 5);   // 11
            a.stc();
            a.mov(ebx, 0);
            a.sbb(ebx, 0);   // -1 with borrow
        });
        Assert.Equal(11UL, m.Cpu.Rax);
        Assert.Equal(0xFFFFFFFFUL, m.Cpu.Rbx);
        Assert.True((m.Cpu.Rflags & CF) != 0);
    }

    [Fact]
    public void Sbb_WithCarryAndEqualOperands_Borrows()
    {
        using var m = RunSnippet(a => { a.stc(); a.mov(rax, -1L); a.mov(rbx, -1L); a.sbb(rax, rbx); });
        Assert.Equal(ulong.MaxValue, m.Cpu.Rax);
        Assert.Equal(CF | SF | PF | AF, ArithmeticFlags(m.Cpu));
    }

    [Fact]
    public void Inc_PreservesCarry_AndOverflowsAt7F()
    {
        using var m = RunSnippet(a => { a.stc(); a.mov(cl, 0x7F); a.inc(cl); });
        Assert.Equal(0x80UL, m.Cpu.Rcx & 0xFF);
        Assert.Equal(CF | OF | SF | AF, ArithmeticFlags(m.Cpu));
    }

    [Fact]
    public void Neg_Zero_ClearsCarry_NegMin_SetsOverflow()
    {
        using var m = RunSnippet(a => { a.xor(eax, eax); a.neg(eax); a.pushfq(); a.mov(bl, 0x80); a.neg(bl); });
        Assert.Equal(0x80UL, m.Cpu.Rbx & 0xFF);
        Assert.Equal(CF | OF | SF, ArithmeticFlags(m.Cpu));
        ulong firstFlags = m.Memory.Read64(m.Cpu.Rsp);
        Assert.Equal(ZF | PF, firstFlags & X86.ArithmeticFlags);
    }

    [Fact]
    public void Logic_ClearsCfOf()
    {
        using var m = RunSnippet(a => { a.stc(); a.mov(eax, 0xF0); a.and(eax, 0x0F); });
        Assert.Equal(0UL, m.Cpu.Rax);
        Assert.Equal(ZF | PF, ArithmeticFlags(m.Cpu));
    }

    [Fact]
    public void Shl_CarryIsLastBitOut()
    {
        using var m = RunSnippet(a => { a.mov(al, 0xC1); a.shl(al, 1); });
        Assert.Equal(0x82UL, m.Cpu.Rax & 0xFF);
        Assert.True((m.Cpu.Rflags & CF) != 0);
        Assert.True((m.Cpu.Rflags & SF) != 0);
        Assert.True((m.Cpu.Rflags & OF) == 0); // MSB(result)=1 xor CF=1
    }

    [Fact]
    public void Sar_ShiftsInSign_ShrClearsIt()
    {
        using var m = RunSnippet(a => { a.mov(eax, 0x80000001); a.mov(ebx, eax); a.sar(eax, 4); a.shr(ebx, 4); });
        Assert.Equal(0xF8000000UL, m.Cpu.Rax);
        Assert.Equal(0x08000000UL, m.Cpu.Rbx);
    }

    [Fact]
    public void ShiftByZero_LeavesFlags()
    {
        using var m = RunSnippet(a => { a.mov(eax, 1); a.xor(ecx, ecx); a.stc(); a.shl(eax, cl); });
        Assert.True((m.Cpu.Rflags & CF) != 0);
        Assert.Equal(1UL, m.Cpu.Rax);
    }

    [Fact]
    public void Rotates()
    {
        using var m = RunSnippet(a =>
        {
            a.mov(al, 0x81); a.rol(al, 1);          // 0x03, CF=1
            a.mov(bl, 0x01); a.ror(bl, 1);          // 0x80, CF=1
            a.clc(); a.mov(cl, 0x80); a.rcl(cl, 1); // 0x00, CF=1
            a.mov(dl, 0x01); a.rcr(dl, 1);          // CF was 1: 0x80, CF=1
        });
        Assert.Equal(0x03UL, m.Cpu.Rax & 0xFF);
        Assert.Equal(0x80UL, m.Cpu.Rbx & 0xFF);
        Assert.Equal(0x00UL, m.Cpu.Rcx & 0xFF);
        Assert.Equal(0x80UL, m.Cpu.Rdx & 0xFF);
        Assert.True((m.Cpu.Rflags & CF) != 0);
    }

    [Fact]
    public void ShldShrd()
    {
        using var m = RunSnippet(a =>
        {
            a.mov(eax, 0x12345678); a.mov(ebx, 0x9ABCDEF0); a.shld(eax, ebx, 8);
            a.mov(ecx, 0x12345678); a.mov(edx, 0x9ABCDEF0); a.shrd(ecx, edx, 8);
        });
        Assert.Equal(0x3456789AUL, m.Cpu.Rax);
        Assert.Equal(0xF0123456UL, m.Cpu.Rcx);
    }

    [Fact]
    public void Mul_And_Imul_Forms()
    {
        using var m = RunSnippet(a =>
        {
            a.mov(rax, -1L); a.mov(rcx, 2); a.mul(rcx);           // rdx:rax = 2^65 - 2
            a.mov(r8, rax); a.mov(r9, rdx);
            a.mov(rax, -3L); a.mov(rcx, 5); a.imul(rcx);          // -15
            a.mov(r10, rax); a.mov(r11, rdx);
            a.mov(ebx, 7); a.imul(ebx, ebx, -6);                  // -42 zero-extended into rbx
            a.mov(esi, 0x10000); a.imul(esi, esi);                // overflow: 2^32 truncated
        });
        Assert.Equal(0xFFFFFFFFFFFFFFFEUL, m.Cpu.Gpr[8]);
        Assert.Equal(1UL, m.Cpu.Gpr[9]);
        Assert.Equal(unchecked((ulong)-15L), m.Cpu.Gpr[10]);
        Assert.Equal(ulong.MaxValue, m.Cpu.Gpr[11]);
        Assert.Equal(0xFFFFFFD6UL, m.Cpu.Rbx);
        Assert.Equal(0UL, m.Cpu.Rsi);
        Assert.Equal(CF | OF, m.Cpu.Rflags & (CF | OF));
    }

    [Fact]
    public void Div_And_Idiv()
    {
        using var m = RunSnippet(a =>
        {
            a.mov(edx, 1); a.mov(eax, 0); a.mov(ecx, 3); a.div(ecx); // 2^32 / 3
            a.mov(r8, rax); a.mov(r9, rdx);
            a.mov(rax, -7L); a.cqo(); a.mov(rcx, 2); a.idiv(rcx);    // -3 rem -1
        });
        Assert.Equal(0x55555555UL, m.Cpu.Gpr[8]);
        Assert.Equal(1UL, m.Cpu.Gpr[9]);
        Assert.Equal(unchecked((ulong)-3L), m.Cpu.Rax);
        Assert.Equal(ulong.MaxValue, m.Cpu.Rdx);
    }

    [Fact]
    public void BitScanAndCounts()
    {
        using var m = RunSnippet(a =>
        {
            a.mov(eax, 0x00F0); a.bsf(ebx, eax); a.bsr(ecx, eax);
            a.popcnt(edx, eax); a.lzcnt(esi, eax); a.tzcnt(edi, eax);
            a.mov(r8, 0x10); a.bts(r8, 0); a.btr(r8, 4); a.btc(r8, 63);
        });
        Assert.Equal(4UL, m.Cpu.Rbx);
        Assert.Equal(7UL, m.Cpu.Rcx);
        Assert.Equal(4UL, m.Cpu.Rdx);
        Assert.Equal(24UL, m.Cpu.Rsi);
        Assert.Equal(4UL, m.Cpu.Rdi);
        Assert.Equal(0x8000000000000001UL, m.Cpu.Gpr[8]);
        Assert.True((m.Cpu.Rflags & CF) == 0); // bit 63 was clear before BTC
    }

    [Fact]
    public void MovExtensions_AndCmov_AndSetcc()
    {
        using var m = RunSnippet(a =>
        {
            a.mov(rax, -1L);
            a.mov(al, 0x80);
            a.movzx(ebx, al);
            a.movsx(rcx, al);
            a.mov(edx, 0x80000000);
            a.movsxd(rdx, edx);
            a.xor(esi, esi); a.cmp(esi, 1);  // 0 < 1: CF=1, SF=1
            a.mov(edi, 5); a.cmovb(esi, edi);
            a.setl(r8b);
            a.setg(r9b);
        });
        Assert.Equal(0x80UL, m.Cpu.Rbx);
        Assert.Equal(0xFFFFFFFFFFFFFF80UL, m.Cpu.Rcx);
        Assert.Equal(0xFFFFFFFF80000000UL, m.Cpu.Rdx);
        Assert.Equal(5UL, m.Cpu.Rsi);
        Assert.Equal(1UL, m.Cpu.Gpr[8] & 0xFF);
        Assert.Equal(0UL, m.Cpu.Gpr[9] & 0xFF);
    }

    [Fact]
    public void Writes32Bit_ZeroExtend_8And16Bit_Merge()
    {
        using var m = RunSnippet(a =>
        {
            a.mov(rax, -1L); a.mov(eax, 1);
            a.mov(rbx, -1L); a.mov(bx, 2);
            a.mov(rcx, -1L); a.mov(ch, 3);
        });
        Assert.Equal(1UL, m.Cpu.Rax);
        Assert.Equal(0xFFFFFFFFFFFF0002UL, m.Cpu.Rbx);
        Assert.Equal(0xFFFFFFFFFFFF03FFUL, m.Cpu.Rcx);
    }

    [Fact]
    public void StackAndCalls()
    {
        using var m = RunSnippet(a =>
        {
            var function = a.CreateLabel();
            var done = a.CreateLabel();
            a.mov(eax, 1);
            a.call(function);
            a.jmp(done);
            a.Label(ref function);
            a.push(rbp); a.mov(rbp, rsp);
            a.add(eax, 41);
            a.leave();
            a.ret();
            a.Label(ref done);
        });
        Assert.Equal(42UL, m.Cpu.Rax);
        Assert.Equal(CpuTestMachine.StackTop, m.Cpu.Rsp);
    }

    [Fact]
    public void LoopAndStrings()
    {
        using var m = RunSnippet(a =>
        {
            var top = a.CreateLabel();
            a.xor(eax, eax); a.mov(ecx, 10);
            a.Label(ref top);
            a.add(eax, ecx);
            a.loop(top);
            a.mov(r15, rax);
            // memset 0x200000..+100 to 0xAB then copy to 0x201000
            a.mov(edi, 0x200000); a.mov(al, 0xAB); a.mov(ecx, 100); a.rep.stosb();
            a.mov(esi, 0x200000); a.mov(edi, 0x201000); a.mov(ecx, 25); a.rep.movsd();
            // repe cmpsb finds the first difference
            a.mov(__byte_ptr[0x201010], 0); a.mov(esi, 0x200000); a.mov(edi, 0x201000); a.mov(ecx, 100); a.repe.cmpsb();
        });
        Assert.Equal(55UL, m.Cpu.Gpr[15]);
        Assert.Equal(0xABUL, m.Memory.Read8(0x201000 + 99));
        Assert.Equal(100UL - 17, m.Cpu.Rcx);
        Assert.Equal(0x200011UL, m.Cpu.Rsi);
    }

    [Fact]
    public void OverlappingForwardMovsb_ReplicatesPattern()
    {
        using var m = RunSnippet(a =>
        {
            a.mov(__byte_ptr[0x300000], 0x5A);
            a.mov(esi, 0x300000); a.mov(edi, 0x300001); a.mov(ecx, 31); a.rep.movsb();
        });
        for (ulong i = 0; i < 32; i++) Assert.Equal(0x5A, m.Memory.Read8(0x300000 + i));
    }

    [Fact]
    public void Cmpxchg_And_Xadd_And_Xchg()
    {
        using var m = RunSnippet(a =>
        {
            a.mov(__qword_ptr[0x300000], 10);
            a.mov(eax, 10); a.mov(ecx, 20); a.@lock.cmpxchg(__qword_ptr[0x300000], rcx); // succeeds
            a.setz(r8b);
            a.mov(eax, 10); a.cmpxchg(__qword_ptr[0x300000], rcx);                          // fails: rax <- 20
            a.setz(r9b);
            a.mov(edx, 5); a.@lock.xadd(__qword_ptr[0x300000], rdx);                        // mem 25, rdx 20
            a.mov(esi, 7); a.xchg(__qword_ptr[0x300000], rsi);                              // mem 7, rsi 25
        });
        Assert.Equal(1UL, m.Cpu.Gpr[8] & 0xFF);
        Assert.Equal(0UL, m.Cpu.Gpr[9] & 0xFF);
        Assert.Equal(20UL, m.Cpu.Rax);
        Assert.Equal(20UL, m.Cpu.Rdx);
        Assert.Equal(25UL, m.Cpu.Rsi);
        Assert.Equal(7UL, m.Memory.Read64(0x300000));
    }

    [Fact]
    public void Cmpxchg16b()
    {
        using var m = RunSnippet(a =>
        {
            a.mov(__qword_ptr[0x300000], 1); a.mov(__qword_ptr[0x300008], 2);
            a.mov(eax, 1); a.mov(edx, 2); a.mov(ebx, 3); a.mov(ecx, 4);
            a.cmpxchg16b(__xmmword_ptr[0x300000]);
        });
        Assert.Equal(3UL, m.Memory.Read64(0x300000));
        Assert.Equal(4UL, m.Memory.Read64(0x300008));
        Assert.True((m.Cpu.Rflags & ZF) != 0);
    }

    [Fact]
    public void RipRelativeAddressing()
    {
        using var m = RunSnippet(a =>
        {
            var data = a.CreateLabel();
            var after = a.CreateLabel();
            a.mov(rax, __qword_ptr[data]);
            a.lea(rbx, __qword_ptr[data]);
            a.jmp(after);
            a.Label(ref data);
            a.dq(0x1122334455667788);
            a.Label(ref after);
        });
        Assert.Equal(0x1122334455667788UL, m.Cpu.Rax);
        Assert.Equal(CpuTestMachine.CodeBase + 7 + 7 + 2, m.Cpu.Rbx);
    }

    [Fact]
    public void AddressingForms_ScaledIndex_AddressSizeWrap_FsBase()
    {
        var m = new CpuTestMachine();
        using var _ = m;
        m.SetupLongMode();
        m.Memory.Write64(0x200000 + 8 + 3 * 4, 0x1111);
        m.Memory.Write64(0x10, 0x2222);
        m.Memory.Write64(0x300010, 0x3333);
        m.Cpu.Fs.Base = 0x300000;
        m.LoadCode(CpuTestMachine.CodeBase, a =>
        {
            a.mov(ebx, 0x200000); a.mov(ecx, 3);
            a.mov(rax, __qword_ptr[rbx + rcx * 4 + 8]);
            a.mov(ebx, unchecked((int)0xFFFFFFF0)); a.mov(ecx, 0x20);
            a.mov(rdx, __qword_ptr[ebx + ecx]);          // 32-bit address size wraps to 0x10
            a.mov(rsi, __qword_ptr.fs[0x10]);
            a.mov(__qword_ptr[rbx + rcx * 1], rsi);      // 64-bit sum 0x1_0000_0010 is not mapped -> #PF
        });
        Assert.Equal(CpuExitReason.Hlt, m.Run());
        Assert.Equal(CpuTestMachine.AfterHandler(X86.VectorPageFault), m.Cpu.Rip);
        Assert.Equal(0x1111UL, m.Cpu.Rax);
        Assert.Equal(0x2222UL, m.Cpu.Rdx);
        Assert.Equal(0x3333UL, m.Cpu.Rsi);
        Assert.Equal(0x100000010UL, m.Cpu.Cr2);
    }

    [Fact]
    public void Snapshot_ReportsExactlyTheChangedRegisters()
    {
        using var m = new CpuTestMachine();
        m.SetupLongMode();
        m.LoadCode(CpuTestMachine.CodeBase, a => { a.mov(ecx, 5); a.hlt(); });
        CpuSnapshot before = m.Cpu.Capture();
        Assert.Equal(CpuExitReason.Hlt, m.Run());
        IReadOnlyList<string> differences = m.Cpu.Capture().Differences(before);
        Assert.Equal(2, differences.Count);
        Assert.StartsWith("rcx:", differences[0]);
        Assert.StartsWith("rip:", differences[1]);
    }

    [Fact]
    public void MovbeAndBswap_ReverseBytes()
    {
        using var m = RunSnippet(a =>
        {
            a.mov(__dword_ptr[0x200000], 0x11223344);
            a.movbe(eax, __dword_ptr[0x200000]);
            a.mov(rbx, 0x0102030405060708);
            a.bswap(rbx);
            a.movbe(__word_ptr[0x200010], ax);
        });
        Assert.Equal(0x44332211UL, m.Cpu.Rax);
        Assert.Equal(0x0807060504030201UL, m.Cpu.Rbx);
        Assert.Equal((ushort)0x1122, m.Memory.Read16(0x200010));
    }
}
