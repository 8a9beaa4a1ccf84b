using Iced.Intel;
using KvmSharp.Soft.Cpu;
using static Iced.Intel.AssemblerRegisters;

namespace KvmSharp.Soft.Tests.Cpu;

public class SseAndRobustnessTests
{
    private const ulong Code = CpuTestMachine.CodeBase;

    private static CpuTestMachine Run(Action<Assembler> build)
    {
        var m = new CpuTestMachine();
        m.SetupLongMode();
        m.LoadCode(Code, a => { build(a); a.hlt(); });
        CpuExitReason reason = m.Run();
        Assert.True(reason == CpuExitReason.Hlt, $"{reason} {m.Cpu.Exit.InternalError} at 0x{m.Cpu.Rip:x}");
        return m;
    }

    [Fact]
    public void Sse2StrlenIdiom_FindsTerminator()
    {
        using var m = new CpuTestMachine();
        m.SetupLongMode();
        m.Memory.Write(0x200000, "hello, world\0........"u8);
        m.LoadCode(Code, a =>
        {
            a.mov(edi, 0x200000);
            a.pxor(xmm0, xmm0);
            a.movdqu(xmm1, __xmmword_ptr[rdi]);
            a.pcmpeqb(xmm1, xmm0);
            a.pmovmskb(eax, xmm1);
            a.bsf(eax, eax);
            a.hlt();
        });
        Assert.Equal(CpuExitReason.Hlt, m.Run());
        Assert.Equal(12UL, m.Cpu.Rax);
    }

    [Fact]
    public void MovapsToMisalignedMemory_IsGp()
    {
        using var m = new CpuTestMachine();
        m.SetupLongMode();
        m.LoadCode(Code, a => { a.mov(edi, 0x200008); a.movaps(__xmmword_ptr[rdi], xmm0); });
        Assert.Equal(CpuExitReason.Hlt, m.Run());
        Assert.Equal(CpuTestMachine.AfterHandler(X86.VectorGeneralProtection), m.Cpu.Rip);
    }

    [Fact]
    public void SseWithTsSet_IsDeviceNotAvailable()
    {
        using var m = new CpuTestMachine();
        m.SetupLongMode();
        m.Cpu.Cr0 |= X86.Cr0Ts;
        m.Cpu.NotifyStateChanged();
        m.LoadCode(Code, a => a.pxor(xmm0, xmm0));
        Assert.Equal(CpuExitReason.Hlt, m.Run());
        Assert.Equal(CpuTestMachine.AfterHandler(X86.VectorDeviceNotAvailable), m.Cpu.Rip);
    }

    [Fact]
    public void ScalarDoubleArithmetic_AndConversions()
    {
        using var m = Run(a =>
        {
            a.mov(eax, 7);
            a.cvtsi2sd(xmm0, eax);
            a.mov(eax, 2);
            a.cvtsi2sd(xmm1, eax);
            a.divsd(xmm0, xmm1);      // 3.5
            a.cvttsd2si(ebx, xmm0);   // 3
            a.cvtsd2si(ecx, xmm0);    // 4 (round to even)
            a.ucomisd(xmm0, xmm1);    // 3.5 > 2: CF=0 ZF=0
            a.movq(rdx, xmm0);
        });
        Assert.Equal(3UL, m.Cpu.Rbx);
        Assert.Equal(4UL, m.Cpu.Rcx);
        Assert.Equal(BitConverter.DoubleToUInt64Bits(3.5), m.Cpu.Rdx);
        Assert.Equal(0UL, m.Cpu.Rflags & (X86.FlagCarry | X86.FlagZero));
    }

    [Fact]
    public void FxsaveFxrstor_RoundTripXmmAndMxcsr()
    {
        using var m = Run(a =>
        {
            a.mov(rax, 0x1122334455667788);
            a.movq(xmm3, rax);
            a.mov(__dword_ptr[0x200000], 0x1F80 | 0x6000);
            a.ldmxcsr(__dword_ptr[0x200000]);
            a.mov(edi, 0x201000);
            a.fxsave(__[rdi]);
            a.pxor(xmm3, xmm3);
            a.fxrstor(__[rdi]);
            a.movq(rbx, xmm3);
            a.stmxcsr(__dword_ptr[0x200004]);
        });
        Assert.Equal(0x1122334455667788UL, m.Cpu.Rbx);
        Assert.Equal(0x7F80u, m.Memory.Read32(0x200004));
        Assert.Equal(0x1122334455667788UL, m.Memory.Read64(0x201000 + 160 + 3 * 16));
        Assert.Equal((ushort)0x37F, m.Memory.Read16(0x201000));
    }

    [Fact]
    public void XsaveXrstor_StandardFormat()
    {
        using var m = new CpuTestMachine();
        m.SetupLongMode();
        m.Cpu.Cr4 |= X86.Cr4Osxsave;
        m.Cpu.NotifyStateChanged();
        m.LoadCode(Code, a =>
        {
            a.xor(ecx, ecx); a.mov(eax, 3); a.xor(edx, edx); a.xsetbv();
            a.mov(rax, 0x0BADF00D); a.movq(xmm5, rax);
            a.mov(eax, 3); a.xor(edx, edx);
            a.mov(edi, 0x202000);
            a.xsave(__[rdi]);
            a.pxor(xmm5, xmm5);
            a.xrstor(__[rdi]);
            a.movq(rbx, xmm5);
            // Restoring with XSTATE_BV[1] = 0 puts XMM registers in their initial state (zero).
            a.and(__byte_ptr[rdi + 512], 1);
            a.xrstor(__[rdi]);
            a.movq(rcx, xmm5);
            a.hlt();
        });
        CpuExitReason reason = m.Run();
        Assert.True(reason == CpuExitReason.Hlt, $"{reason} {m.Cpu.Exit.InternalError}");
        Assert.Equal(0x0BADF00DUL, m.Cpu.Rbx);
        Assert.Equal(0UL, m.Cpu.Rcx);
        Assert.Equal(3UL, m.Cpu.Xcr0);
        Assert.Equal(0x0BADF00DUL, m.Memory.Read64(0x202000 + 160 + 5 * 16));
    }

    [Fact]
    public void ScalarCompareProducesMask()
    {
        using var m = Run(a =>
        {
            a.mov(eax, 1); a.cvtsi2sd(xmm0, eax);
            a.mov(eax, 2); a.cvtsi2sd(xmm1, eax);
            a.movapd(xmm2, xmm0);
            a.cmpsd(xmm2, xmm1, 1);   // 1 < 2: all ones
            a.movq(rbx, xmm2);
            a.movapd(xmm3, xmm0);
            a.cmpsd(xmm3, xmm1, 0);   // 1 == 2: zero
            a.movq(rcx, xmm3);
        });
        Assert.Equal(ulong.MaxValue, m.Cpu.Rbx);
        Assert.Equal(0UL, m.Cpu.Rcx);
    }

    [Fact]
    public void X87_StackArithmeticAndIntegerStores()
    {
        using var m = Run(a =>
        {
            a.fninit();
            a.fld1();
            a.fld1();
            a.faddp(st1, st0);                          // 2
            a.mov(__dword_ptr[0x200000], 3);
            a.fild(__dword_ptr[0x200000]);              // 3, 2
            a.fmulp(st1, st0);                          // 6
            a.mov(rax, BitConverter.DoubleToInt64Bits(2.5));
            a.mov(__qword_ptr[0x200008], rax);
            a.fld(__qword_ptr[0x200008]);               // 2.5, 6
            a.fdivp(st1, st0);                          // 6 / 2.5 = 2.4
            a.fstp(__tword_ptr[0x200010]);              // 80-bit store, stack empty
            a.fld(__tword_ptr[0x200010]);
            a.fistp(__dword_ptr[0x200020]);             // round to nearest: 2
            a.fnstsw(ax);
        });
        Assert.Equal(2u, m.Memory.Read32(0x200020));
        Assert.Equal(0UL, (m.Cpu.Rax >> 11) & 7);     // TOP back to 0
        Assert.Equal(0, m.Cpu.Fpu.Ftwx);
        // 2.4 as an 80-bit value: exponent 0x4000, explicit integer bit.
        Assert.Equal((ushort)0x4000, m.Memory.Read16(0x200018));
        Assert.Equal(0x8000000000000000UL, m.Memory.Read64(0x200010) & 0x8000000000000000UL);
    }

    [Fact]
    public void X87_PackedBcdRoundTrip()
    {
        using var m = Run(a =>
        {
            a.fninit();
            a.mov(__dword_ptr[0x200000], -1234567);
            a.fild(__dword_ptr[0x200000]);
            a.fbstp(__tword_ptr[0x200010]);
            a.fbld(__tword_ptr[0x200010]);
            a.fistp(__dword_ptr[0x200020]);
        });
        Assert.Equal(0x1234567UL, m.Memory.Read64(0x200010));
        Assert.Equal((ushort)0x8000, m.Memory.Read16(0x200018));
        Assert.Equal(unchecked((uint)-1234567), m.Memory.Read32(0x200020));
    }

    [Fact]
    public void X87_CompareIntoEflags()
    {
        using var m = Run(a =>
        {
            a.fninit();
            a.fld1();
            a.fldz();                // st0 = 0, st1 = 1
            a.fcomip(st0, st1);      // 0 < 1: CF=1, pops
            a.setc(bl);
            a.fstp(st0);
        });
        Assert.Equal(1UL, m.Cpu.Rbx & 0xFF);
        Assert.Equal(0, m.Cpu.Fpu.Ftwx);
    }

    [Fact]
    public void X87_EnvironmentStoreAndLoad()
    {
        using var m = Run(a =>
        {
            a.fninit();
            a.fld1();
            a.fnstenv(__[0x200000]);
            a.fninit();
            a.fldenv(__[0x200000]);
            a.fnstsw(ax);
        });
        Assert.Equal(0x3FFFu, m.Memory.Read32(0x200008) & 0xFFFF); // only physical register 7 in use
        Assert.Equal(0x3800u, m.Memory.Read32(0x200004) & 0xFFFF); // TOP = 7
        Assert.Equal(0x3800UL, m.Cpu.Rax & 0xFFFF);
        Assert.Equal(0x80, m.Cpu.Fpu.Ftwx);
    }

    [Fact]
    public void Ssse3ShuffleAlignAndSaturation()
    {
        using var m = Run(a =>
        {
            a.mov(rax, 0x0706050403020100);
            a.movq(xmm0, rax);
            a.mov(rax, unchecked((long)0x8000000000000001));   // control: byte0 <- 1, byte7 <- zero (bit 7 set)
            a.movq(xmm1, rax);
            a.pshufb(xmm0, xmm1);
            a.movq(rbx, xmm0);
            a.mov(eax, 0x7FF0);
            a.movd(xmm2, eax);
            a.mov(eax, 0x0100);
            a.movd(xmm3, eax);
            a.paddsw(xmm2, xmm3);                               // 0x7FF0 + 0x100 saturates to 0x7FFF
            a.movd(ecx, xmm2);
        });
        Assert.Equal(0x0000000000000001UL, m.Cpu.Rbx);
        Assert.Equal(0x7FFFUL, m.Cpu.Rcx);
    }

    [Fact]
    public void Mmx_PackedOpsAliasX87Registers()
    {
        using var m = Run(a =>
        {
            a.fninit();
            a.mov(rax, 0x0102030405060708);
            a.movq(mm0, rax);
            a.mov(rax, 0x1010101010101010);
            a.movq(mm1, rax);
            a.paddb(mm0, mm1);                  // 0x1112131415161718
            a.movq(rbx, mm0);
            a.movq(mm2, mm0);
            a.punpckhbw(mm2, mm1);              // interleave high bytes: 15 10 14 10 13 10 12 10 -> ...
            a.movq(rcx, mm2);
            a.mov(eax, 0x00FF0100);             // words: 0x0100, 0x00FF
            a.movd(mm3, eax);
            a.packuswb(mm3, mm3);
            a.movd(edx, mm3);
            a.emms();
        });
        Assert.Equal(0x1112131415161718UL, m.Cpu.Rbx);
        Assert.Equal(0x1011101210131014UL, m.Cpu.Rcx);
        Assert.Equal(0xFFFF0000FFFFUL & 0xFFFFFFFF, m.Cpu.Rdx & 0xFFFFFFFF);
        Assert.Equal(0x1112131415161718UL, m.Cpu.Fpu.St[0]); // MM0 is physical register 0's mantissa
        Assert.Equal(0, m.Cpu.Fpu.Ftwx);                      // EMMS empties the x87 tags
    }

    [Fact]
    public void PackedShufflesAndShifts()
    {
        using var m = Run(a =>
        {
            a.mov(rax, 0x0706050403020100);
            a.movq(xmm0, rax);
            a.pshufd(xmm1, xmm0, 0b00_00_00_01); // lane0 = dword1
            a.movd(ebx, xmm1);
            a.pslldq(xmm0, 1);
            a.movq(rcx, xmm0);
        });
        Assert.Equal(0x07060504UL, m.Cpu.Rbx);
        Assert.Equal(0x0605040302010000UL, m.Cpu.Rcx);
    }

    /// <summary>Random 16- and 32-bit code (real mode and flat protected mode) must not fail in the host either.</summary>
    [Theory]
    [InlineData(16)]
    [InlineData(32)]
    public void RandomLegacyCode_NeverFailsInTheHost(int bitness)
    {
        using var m = new CpuTestMachine();
        var random = new Random(bitness);
        byte[] code = new byte[48];
        var messages = new List<string>();
        for (int iteration = 0; iteration < 1000; iteration++)
        {
            X86Cpu cpu = m.Cpu;
            cpu.Reset();
            if (bitness == 32)
            {
                m.Memory.Write64(CpuTestMachine.GdtBase + 0x08, CpuTestMachine.Descriptor(code: true, 0, longMode: false));
                m.Memory.Write64(CpuTestMachine.GdtBase + 0x10, CpuTestMachine.Descriptor(code: false, 0, longMode: false));
                cpu.Cr0 = X86.Cr0Pe | X86.Cr0Et;
                cpu.Gdtr = new DescriptorTable { Base = CpuTestMachine.GdtBase, Limit = 0x17 };
                cpu.Idtr = new DescriptorTable { Base = CpuTestMachine.IdtBase, Limit = 0x7FF };
                cpu.Cs = CpuTestMachine.Flat(0x08, code: true, dpl: 0, longMode: false);
                SegmentCache data = CpuTestMachine.Flat(0x10, code: false, dpl: 0, longMode: false);
                cpu.Ds = cpu.Es = cpu.Ss = cpu.Fs = cpu.Gs = data;
                cpu.Rip = Code;
            }
            else
            {
                cpu.Cs = SegmentCache.RealMode(0x1000, type: 0xB);
                cpu.Idtr = new DescriptorTable { Base = 0, Limit = 0x3FF };
                cpu.Rip = (Code - 0x10000) & 0xFFFF;
                m.Memory.Write(0x10000 + cpu.Rip, new byte[48]);
            }
            random.NextBytes(code);
            m.Memory.Write(bitness == 32 ? Code : 0x10000 + cpu.Rip, code);
            for (int r = 0; r < 8; r++) cpu.Gpr[r] = (ulong)random.Next(0, 0x10000);
            cpu.Rsp = 0x8000;
            cpu.NotifyStateChanged();
            cpu.InvalidateCodeCache();
            CpuExitReason reason = cpu.Run(100);
            if (reason == CpuExitReason.InternalError && cpu.Exit.InternalError!.StartsWith("emulator failure", StringComparison.Ordinal))
                messages.Add(cpu.Exit.InternalError);
            if (cpu.HasPendingCompletion) cpu.Run(1);
        }
        Assert.True(messages.Count == 0, string.Join("\n", messages.Distinct().Take(10)));
    }

    /// <summary>Random bytes must end in an exit or a guest exception, never a host exception.</summary>
    [Fact]
    public void RandomCode_NeverFailsInTheHost()
    {
        using var m = new CpuTestMachine();
        var random = new Random(12345);
        byte[] code = new byte[64];
        int failures = 0;
        var messages = new List<string>();
        for (int iteration = 0; iteration < 1500; iteration++)
        {
            m.SetupLongMode(cpl: iteration % 2 == 0 ? 0 : 3);
            random.NextBytes(code);
            m.Memory.Write(Code, code);
            for (int r = 0; r < 16; r++)
                m.Cpu.Gpr[r] = r == 4 ? CpuTestMachine.StackTop : (ulong)random.Next(0, 0x400000);
            m.Cpu.Rip = Code;
            m.Cpu.InvalidateCodeCache();
            CpuExitReason reason = m.Cpu.Run(200);
            if (reason == CpuExitReason.InternalError && m.Cpu.Exit.InternalError!.StartsWith("emulator failure", StringComparison.Ordinal))
            {
                failures++;
                messages.Add(m.Cpu.Exit.InternalError);
            }
            if (m.Cpu.HasPendingCompletion)
            {
                // Complete whatever I/O or MMIO exit happened so the next iteration starts clean.
                m.Cpu.Run(1);
            }
        }
        Assert.True(failures == 0, string.Join("\n", messages.Distinct().Take(10)));
    }
}
