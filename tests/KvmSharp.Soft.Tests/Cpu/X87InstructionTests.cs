using Iced.Intel;
using KvmSharp.Soft.Cpu;
using static Iced.Intel.AssemblerRegisters;

namespace KvmSharp.Soft.Tests.Cpu;

/// <summary>x87 instructions run on the CPU: FSW flags, C1, FCW's PC and RC, stack faults, and #MF for unmasked exceptions.</summary>
public class X87InstructionTests
{
    private const ulong Code = CpuTestMachine.CodeBase;
    private const ulong Data = 0x200000;
    private const int Fsw_IE = 0x01, Fsw_ZE = 0x04, Fsw_PE = 0x20, Fsw_SF = 0x40, Fsw_ES = 0x80, Fsw_C1 = 0x200, Fsw_B = 0x8000;

    private static CpuTestMachine Run(Action<Assembler> build, bool expectHltAtEnd = true)
    {
        var m = new CpuTestMachine();
        m.SetupLongMode();
        m.LoadCode(Code, a => { build(a); a.hlt(); });
        CpuExitReason reason = m.Run();
        Assert.True(reason == CpuExitReason.Hlt, $"{reason} {m.Cpu.Exit.InternalError} at 0x{m.Cpu.Rip:x}");
        if (expectHltAtEnd) Assert.True(m.Cpu.Rip < CpuTestMachine.HandlerBase || m.Cpu.Rip > CpuTestMachine.HandlerBase + 4096, $"exception handler reached: RIP 0x{m.Cpu.Rip:x}");
        return m;
    }

    private static void LoadControlWord(Assembler a, ushort fcw)
    {
        a.mov(__word_ptr[Data + 0x100], fcw);
        a.fldcw(__word_ptr[Data + 0x100]);
    }

    private static void LoadOneThird(Assembler a)
    {
        a.fld1();
        a.mov(__dword_ptr[Data + 0x108], 3);
        a.fild(__dword_ptr[Data + 0x108]);
        a.fdivp(st1, st0);
    }

    [Fact]
    public void Fdiv_OneThirdAtFullPrecisionSetsPeAndRoundUp()
    {
        using var m = Run(a =>
        {
            a.fninit();
            LoadOneThird(a);
            a.fnstsw(ax);
            a.fstp(__tword_ptr[Data]);
        });
        Assert.Equal(0xAAAAAAAAAAAAAAABUL, m.Memory.Read64(Data));
        Assert.Equal((ushort)0x3FFD, m.Memory.Read16(Data + 8));
        Assert.Equal((ulong)(Fsw_PE | Fsw_C1), m.Cpu.Rax & 0xFFFF & ~0x3800UL);
    }

    [Fact]
    public void Fdiv_HonoursPrecisionAndRoundingControl()
    {
        using var m = Run(a =>
        {
            a.fninit();
            LoadControlWord(a, 0x007F);    // PC = 24 bits, nearest
            LoadOneThird(a);
            a.fstp(__tword_ptr[Data]);
            LoadControlWord(a, 0x077F);    // PC = 64 bits, round down
            LoadOneThird(a);
            a.fnstsw(ax);
            a.fstp(__tword_ptr[Data + 0x10]);
        });
        Assert.Equal(0xAAAAAB0000000000UL, m.Memory.Read64(Data));
        Assert.Equal(0xAAAAAAAAAAAAAAAAUL, m.Memory.Read64(Data + 0x10));
        Assert.Equal(0UL, m.Cpu.Rax & Fsw_C1);     // rounded down: C1 clear
    }

    [Fact]
    public void Fldpi_RoundsPerRc()
    {
        using var m = Run(a =>
        {
            a.fninit();
            a.fldpi();
            a.fstp(__tword_ptr[Data]);
            LoadControlWord(a, 0x0F7F);    // toward zero
            a.fldpi();
            a.fstp(__tword_ptr[Data + 0x10]);
        });
        Assert.Equal(0xC90FDAA22168C235UL, m.Memory.Read64(Data));
        Assert.Equal(0xC90FDAA22168C234UL, m.Memory.Read64(Data + 0x10));
    }

    [Fact]
    public void StoresToNarrowerFormats_RoundTheExtendedValue()
    {
        using var m = Run(a =>
        {
            a.fninit();
            LoadOneThird(a);
            a.fst(__dword_ptr[Data]);
            a.fstp(__qword_ptr[Data + 8]);
        });
        Assert.Equal(BitConverter.SingleToUInt32Bits(1.0f / 3), m.Memory.Read32(Data));
        Assert.Equal(BitConverter.DoubleToUInt64Bits(1.0 / 3), m.Memory.Read64(Data + 8));
    }

    [Fact]
    public void UnmaskedZeroDivide_LeavesTheStackAndRaisesMfOnTheNextWaitingInstruction()
    {
        using var m = Run(a =>
        {
            a.fninit();
            LoadControlWord(a, 0x037B);    // ZE unmasked
            a.fld1();
            a.fldz();
            a.fdivp(st1, st0);             // 1 / 0: ZE, nothing written, no pop
            a.fnstsw(ax);                  // no-wait: no #MF
            a.fld1();                      // #MF here, before it executes
        }, expectHltAtEnd: false);
        Assert.Equal(CpuTestMachine.AfterHandler(X86.VectorFloatingPoint), m.Cpu.Rip);
        Assert.Equal((ulong)(Fsw_ZE | Fsw_ES | Fsw_B | (6 << 11)), m.Cpu.Rax & 0xFFFF);
        Assert.Equal(6, (m.Cpu.Fpu.Fsw >> 11) & 7);         // the faulting FLD1 pushed nothing
        Assert.Equal(0UL, m.Cpu.Fpu.St[0]);                  // ST0 is still +0
        Assert.Equal(0x8000000000000000UL, m.Cpu.Fpu.St[2]); // ST1 is still 1.0
        Assert.Equal(0x3FFFUL, m.Cpu.Fpu.St[3]);
    }

    [Fact]
    public void Fnclex_ClearsThePendingException()
    {
        using var m = Run(a =>
        {
            a.fninit();
            LoadControlWord(a, 0x037B);
            a.fld1();
            a.fldz();
            a.fdivp(st1, st0);
            a.fnclex();
            a.fld1();
            a.fnstsw(ax);
        });
        Assert.Equal(5UL << 11, m.Cpu.Rax & 0xFFFF);
    }

    [Fact]
    public void Fldcw_UnmaskingASetFlagMakesItPending()
    {
        using var m = Run(a =>
        {
            a.fninit();
            a.fld1();
            a.fldz();
            a.fdivp(st1, st0);             // masked: +inf, ZE set
            LoadControlWord(a, 0x037B);
            a.fnstsw(ax);
            a.wait();                      // #MF
        }, expectHltAtEnd: false);
        Assert.Equal(CpuTestMachine.AfterHandler(X86.VectorFloatingPoint), m.Cpu.Rip);
        Assert.Equal((ulong)(Fsw_ZE | Fsw_ES | Fsw_B), m.Cpu.Rax & 0xFFFF & ~0x3800UL);
        Assert.Equal(0x8000000000000000UL, m.Cpu.Fpu.St[0]); // the masked response: +infinity
        Assert.Equal(0x7FFFUL, m.Cpu.Fpu.St[1]);
    }

    [Fact]
    public void StackOverflow_PushesTheIndefiniteWithSfAndC1()
    {
        using var m = Run(a =>
        {
            a.fninit();
            for (int i = 0; i < 9; i++) a.fld1();
            a.fnstsw(ax);
        });
        Assert.Equal((ulong)(Fsw_IE | Fsw_SF | Fsw_C1), m.Cpu.Rax & 0xFFFF & ~0x3800UL);
        Assert.Equal(0xC000000000000000UL, m.Cpu.Fpu.St[0]);
        Assert.Equal(0xFFFFUL, m.Cpu.Fpu.St[1]);
    }

    [Fact]
    public void StackUnderflow_WritesTheIndefiniteWithC1Clear()
    {
        using var m = Run(a =>
        {
            a.fninit();
            a.fld1();
            a.fadd(st0, st1);              // ST1 is empty
            a.fnstsw(ax);
        });
        Assert.Equal((ulong)(Fsw_IE | Fsw_SF), m.Cpu.Rax & 0xFFFF & ~0x3800UL);
        Assert.Equal(0xC000000000000000UL, m.Cpu.Fpu.St[0]);
    }

    [Fact]
    public void Fistp_OutOfRangeStoresTheIntegerIndefinite()
    {
        using var m = Run(a =>
        {
            a.fninit();
            a.mov(rax, BitConverter.DoubleToInt64Bits(1e10));
            a.mov(__qword_ptr[Data], rax);
            a.fld(__qword_ptr[Data]);
            a.fistp(__dword_ptr[Data + 8]);
            a.fnstsw(ax);
        });
        Assert.Equal(0x80000000u, m.Memory.Read32(Data + 8));
        Assert.Equal((ulong)Fsw_IE, m.Cpu.Rax & 0x3F);
    }

    [Fact]
    public void Compares_SignalOnQuietNaNsOnlyForFcom()
    {
        using var m = Run(a =>
        {
            a.fninit();
            a.mov(rax, BitConverter.DoubleToInt64Bits(double.NaN));
            a.mov(__qword_ptr[Data], rax);
            a.fld(__qword_ptr[Data]);
            a.fld1();
            a.fucom(st0, st1);
            a.fnstsw(ax);
            a.mov(ebx, eax);
            a.fcom(st0, st1);
            a.fnstsw(ax);
        });
        const int unordered = 0x4500; // C3, C2, C0
        Assert.Equal((ulong)unordered, m.Cpu.Rbx & 0xFFFF & ~0x3800UL);
        Assert.Equal((ulong)(unordered | Fsw_IE), m.Cpu.Rax & 0xFFFF & ~0x3800UL);
    }

    [Fact]
    public void Fxam_ClassifiesEmptyAndDenormal()
    {
        using var m = Run(a =>
        {
            a.fninit();
            a.fxam();
            a.fnstsw(ax);
            a.mov(ebx, eax);
            a.mov(__qword_ptr[Data], 1);
            a.mov(__word_ptr[Data + 8], 0x8000);  // negative 80-bit denormal
            a.fld(__tword_ptr[Data]);
            a.fxam();
            a.fnstsw(ax);
        });
        Assert.Equal(0x4100UL, m.Cpu.Rbx & 0x4700);           // empty: C3, C0
        Assert.Equal(0x4600UL, m.Cpu.Rax & 0x4700);           // denormal: C3, C2; C1 = sign
    }

    // The expectations below were probed on the AMD EPYC through the differential fuzzer's --probe (same FSW, same stack).

    [Fact]
    public void UnmaskedInvalidCompare_SetsTheConditionCodesButDoesNotPop()
    {
        using var m = Run(a =>
        {
            a.fninit();
            LoadControlWord(a, 0x037E);    // IE unmasked
            a.mov(rax, BitConverter.DoubleToInt64Bits(double.NaN));
            a.mov(__qword_ptr[Data], rax);
            a.fld(__qword_ptr[Data]);
            a.fld1();
            a.fcomp(st0, st1);
            a.fnstsw(ax);
        });
        Assert.Equal((ulong)(0x4500 | Fsw_IE | Fsw_ES | Fsw_B | (6 << 11)), m.Cpu.Rax & 0xFFFF);
    }

    [Fact]
    public void UnmaskedDenormal_ReportsOnlyDe()
    {
        using var m = Run(a =>
        {
            a.fninit();
            LoadControlWord(a, 0x037D);    // DE unmasked
            a.mov(__qword_ptr[Data], 0x100);
            a.mov(__word_ptr[Data + 8], 0);
            a.fld(__tword_ptr[Data]);
            a.fld1();
            a.faddp(st1, st0);             // would be inexact, but is not performed
            a.fnstsw(ax);
        });
        Assert.Equal((ulong)(0x02 | Fsw_ES | Fsw_B | (6 << 11)), m.Cpu.Rax & 0xFFFF);
        Assert.Equal(0x8000000000000000UL, m.Cpu.Fpu.St[0]); // ST0 still 1.0
    }

    [Fact]
    public void UnmaskedOverflowOnAStore_LeavesMemoryAndReportsNoPrecision()
    {
        using var m = Run(a =>
        {
            a.fninit();
            LoadControlWord(a, 0x0377);    // OE unmasked
            a.mov(__dword_ptr[Data], 0x12345678);
            a.mov(rax, -1L);
            a.mov(__qword_ptr[Data + 0x10], rax);
            a.mov(__word_ptr[Data + 0x18], 0x7FFE);
            a.fld(__tword_ptr[Data + 0x10]);
            a.fst(__dword_ptr[Data]);
            a.fnstsw(ax);
        });
        Assert.Equal(0x12345678u, m.Memory.Read32(Data));
        Assert.Equal((ulong)(0x08 | Fsw_ES | Fsw_B | (7 << 11)), m.Cpu.Rax & 0xFFFF);
    }

    [Fact]
    public void FcmovFromAnEmptyRegister_LoadsTheIndefiniteEvenWhenTheConditionFails()
    {
        using var m = Run(a =>
        {
            a.fninit();
            a.fld1();
            a.clc();
            a.fcmovb(st0, st3);
            a.fnstsw(ax);
        });
        Assert.Equal((ulong)(Fsw_IE | Fsw_SF), m.Cpu.Rax & 0x3FF);
        Assert.Equal(0xC000000000000000UL, m.Cpu.Fpu.St[0]);
    }

    [Fact]
    public void Fnstenv_TagWordClassifiesTheRegisters()
    {
        using var m = Run(a =>
        {
            a.fninit();
            a.fld1();
            a.fldz();
            a.fdivp(st1, st0);             // +inf: special
            a.fldz();                      // zero
            a.fld1();                      // valid
            a.fnstenv(__[Data]);
        });
        // Physical registers 7..5 hold inf, 0, 1; the rest are empty.
        Assert.Equal(0b10_01_00_11_11_11_11_11u, m.Memory.Read32(Data + 8) & 0xFFFF);
    }

    [Fact]
    public void Fnstenv_MasksEverythingAndSoWithdrawsThePendingException()
    {
        using var m = Run(a =>
        {
            a.fninit();
            LoadControlWord(a, 0x037B);
            a.fld1();
            a.fldz();
            a.fdivp(st1, st0);
            a.fnstenv(__[Data]);
            a.wait();                      // nothing pending any more
            a.fnstsw(ax);
        });
        Assert.Equal((ulong)(Fsw_ZE | Fsw_ES | Fsw_B), m.Memory.Read32(Data + 4) & 0xFFFF & ~0x3800UL); // stored before masking
        Assert.Equal((ulong)Fsw_ZE, m.Cpu.Rax & 0xFFFF & ~0x3800UL);
        Assert.Equal(0x037FUL, m.Cpu.Fpu.Fcw);
    }

    [Fact]
    public void MmxInstructions_ReportAPendingX87Exception()
    {
        using var m = Run(a =>
        {
            a.fninit();
            LoadControlWord(a, 0x037B);
            a.fld1();
            a.fldz();
            a.fdivp(st1, st0);
            a.movq(mm0, mm1);              // #MF before it executes
        }, expectHltAtEnd: false);
        Assert.Equal(CpuTestMachine.AfterHandler(X86.VectorFloatingPoint), m.Cpu.Rip);
        Assert.Equal(6, (m.Cpu.Fpu.Fsw >> 11) & 7);          // not switched to MMX use (TOP 0)
    }

    [Fact]
    public void Fprem_WithoutARemainderKeepsC0AndC3AndClearsC1AndC2()
    {
        using var m = Run(a =>
        {
            a.fninit();
            a.fldz();                      // ST1 = 0: FPREM is invalid
            a.fld1();
            a.fldz();
            a.fcom(st0, st1);              // 0 < 1: C0
            a.fstp(st0);                   // ST0 = 1, ST1 = 0
            a.fprem();
            a.fnstsw(ax);
        });
        Assert.Equal((ulong)(0x100 | Fsw_IE), m.Cpu.Rax & 0x47FF);
        Assert.Equal(0xC000000000000000UL, m.Cpu.Fpu.St[0]);
    }

    [Fact]
    public void Fcomi_LeavesC1AsItWas()
    {
        using var m = Run(a =>
        {
            a.fninit();
            a.fld1();
            a.fld1();
            a.fchs();
            a.fxam();                      // negative: C1 = 1
            a.fcomi(st0, st1);
            a.fnstsw(ax);
        });
        Assert.Equal((ulong)Fsw_C1, m.Cpu.Rax & Fsw_C1);
        Assert.Equal(X86.FlagCarry, m.Cpu.Rflags & (X86.FlagCarry | X86.FlagZero | X86.FlagParity));
    }
}
