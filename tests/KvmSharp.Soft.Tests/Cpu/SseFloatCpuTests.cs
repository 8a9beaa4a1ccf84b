using Iced.Intel;
using KvmSharp.Soft.Cpu;
using static Iced.Intel.AssemblerRegisters;
using static KvmSharp.Soft.Tests.Cpu.FloatBits;

namespace KvmSharp.Soft.Tests.Cpu;

/// <summary>
/// SSE floating point at instruction level on <see cref="X86Cpu"/>: MXCSR flags are sticky, an unmasked exception
/// raises #XM (vector 19) or #UD without CR4.OSXMMEXCPT and writes no destination lane, pre-computation exceptions stop
/// the instruction before post-computation flags exist, RC/FTZ/DAZ loaded by LDMXCSR apply, COMIS sets the flags.
/// </summary>
public class SseFloatCpuTests
{
    private const ulong Code = CpuTestMachine.CodeBase;
    private const ulong Data = 0x200000;
    private const uint AllMasked = 0x1F80;

    private static uint Unmask(uint flag) => AllMasked & ~(flag << SseFloat.MaskShift);

    private static CpuTestMachine Machine(uint mxcsr, Action<Assembler> build, bool osxmmexcpt = true)
    {
        var m = new CpuTestMachine();
        m.SetupLongMode();
        if (!osxmmexcpt)
        {
            m.Cpu.Cr4 &= ~X86.Cr4Osxmmexcpt;
            m.Cpu.NotifyStateChanged();
        }
        m.Cpu.Fpu.Mxcsr = mxcsr;
        m.LoadCode(Code, a => { build(a); a.hlt(); });
        return m;
    }

    [Fact]
    public void Flags_are_sticky_across_instructions()
    {
        using var m = Machine(AllMasked, a =>
        {
            a.divsd(xmm0, xmm1);   // 1/3: PE
            a.divsd(xmm2, xmm3);   // 1/0: ZE
            a.addsd(xmm4, xmm4);   // 2 + 2: exact, clears nothing
            a.mov(edi, (uint)Data);
            a.stmxcsr(__dword_ptr[rdi]);
        });
        m.SetXmm(0, Bits(1), 0); m.SetXmm(1, Bits(3), 0);
        m.SetXmm(2, Bits(1), 0); m.SetXmm(3, 0, 0);
        m.SetXmm(4, Bits(2), 0);
        Assert.Equal(CpuExitReason.Hlt, m.Run());
        Assert.Equal(AllMasked | SseFloat.FlagPrecision | SseFloat.FlagDivideByZero, m.Memory.Read32(Data));
        Assert.Equal(Bits(1.0 / 3.0), m.GetXmm(0).Low);
        Assert.Equal(Bits(double.PositiveInfinity), m.GetXmm(2).Low);
        Assert.Equal(Bits(4), m.GetXmm(4).Low);
    }

    [Fact]
    public void Unmasked_divide_by_zero_in_one_lane_raises_xm_and_writes_no_lane()
    {
        using var m = Machine(Unmask(SseFloat.FlagDivideByZero), a => a.divps(xmm0, xmm1));
        m.SetXmm(0, Singles(6, 8), Singles(1, 9));
        m.SetXmm(1, Singles(2, 4), Singles(0, 3));
        Assert.Equal(CpuExitReason.Hlt, m.Run());
        Assert.Equal(CpuTestMachine.AfterHandler(X86.VectorSimdFloatingPoint), m.Cpu.Rip);
        Assert.Equal((Singles(6, 8), Singles(1, 9)), m.GetXmm(0));
        Assert.Equal(Unmask(SseFloat.FlagDivideByZero) | SseFloat.FlagDivideByZero, m.Cpu.Fpu.Mxcsr);
    }

    [Fact]
    public void Without_osxmmexcpt_an_unmasked_exception_is_invalid_opcode()
    {
        using var m = Machine(Unmask(SseFloat.FlagDivideByZero), a => a.divss(xmm0, xmm1), osxmmexcpt: false);
        m.SetXmm(0, Singles(6, 8), 0);
        m.SetXmm(1, 0, 0);
        Assert.Equal(CpuExitReason.Hlt, m.Run());
        Assert.Equal(CpuTestMachine.AfterHandler(X86.VectorInvalidOpcode), m.Cpu.Rip);
        Assert.Equal(Singles(6, 8), m.GetXmm(0).Low);
        Assert.Equal(Unmask(SseFloat.FlagDivideByZero) | SseFloat.FlagDivideByZero, m.Cpu.Fpu.Mxcsr);
    }

    [Fact]
    public void Unmasked_precision_raises_xm_after_computing_with_the_flag_set()
    {
        uint mxcsr = Unmask(SseFloat.FlagPrecision);
        using var m = Machine(mxcsr, a => a.divsd(xmm0, xmm1));
        m.SetXmm(0, Bits(1), 7);
        m.SetXmm(1, Bits(3), 0);
        Assert.Equal(CpuExitReason.Hlt, m.Run());
        Assert.Equal(CpuTestMachine.AfterHandler(X86.VectorSimdFloatingPoint), m.Cpu.Rip);
        Assert.Equal((Bits(1), 7UL), m.GetXmm(0));
        Assert.Equal(mxcsr | SseFloat.FlagPrecision, m.Cpu.Fpu.Mxcsr);
    }

    [Fact]
    public void An_unmasked_pre_computation_exception_sets_only_the_pre_computation_flags()
    {
        // Lane 0 overflows (a post-computation flag, masked); lane 1 has a denormal operand with DE unmasked: the
        // instruction stops before computing, so OE and PE are not reported.
        uint mxcsr = Unmask(SseFloat.FlagDenormal);
        using var m = Machine(mxcsr, a => a.mulpd(xmm0, xmm1));
        m.SetXmm(0, Bits(1e308), Bits(2));
        m.SetXmm(1, Bits(10), 1);
        Assert.Equal(CpuExitReason.Hlt, m.Run());
        Assert.Equal(CpuTestMachine.AfterHandler(X86.VectorSimdFloatingPoint), m.Cpu.Rip);
        Assert.Equal(mxcsr | SseFloat.FlagDenormal, m.Cpu.Fpu.Mxcsr);
        Assert.Equal((Bits(1e308), Bits(2)), m.GetXmm(0));
    }

    [Fact]
    public void Ldmxcsr_rounding_control_applies_to_arithmetic_and_conversions()
    {
        using var m = Machine(AllMasked, a =>
        {
            a.mov(edi, (uint)Data);
            a.ldmxcsr(__dword_ptr[rdi]);
            a.mulsd(xmm0, xmm1);       // 1e308 × 10 toward zero: DBL_MAX
            a.cvtsd2si(rax, xmm2);     // -2.5 toward zero: -2
            a.cvtsi2ss(xmm3, rbx);     // 2^24 + 1 toward zero: 2^24
        });
        m.Memory.Write32(Data, AllMasked | 3 << 13);
        m.SetXmm(0, Bits(1e308), 0);
        m.SetXmm(1, Bits(10), 0);
        m.SetXmm(2, Bits(-2.5), 0);
        m.SetXmm(3, 0xAAAAAAAA_BBBBBBBB, 5);
        m.Cpu.Rbx = (1 << 24) + 1;
        Assert.Equal(CpuExitReason.Hlt, m.Run());
        Assert.Equal(Bits(double.MaxValue), m.GetXmm(0).Low);
        Assert.Equal(unchecked((ulong)-2L), m.Cpu.Rax);
        Assert.Equal((0xAAAAAAAA_00000000 | BitConverter.SingleToUInt32Bits(16777216f), 5UL), m.GetXmm(3));
        Assert.Equal(AllMasked | 3 << 13 | SseFloat.FlagOverflow | SseFloat.FlagPrecision, m.Cpu.Fpu.Mxcsr);
    }

    [Fact]
    public void Flush_to_zero_and_denormals_are_zero_apply_through_mxcsr()
    {
        using var m = Machine(AllMasked | SseFloat.FlushToZero | SseFloat.DenormalsAreZero, a =>
        {
            a.mulss(xmm0, xmm1);   // FLT_MIN × 0.5 flushed to +0
            a.addsd(xmm2, xmm3);   // denormal + denormal read as 0 + 0
        });
        m.SetXmm(0, 0x00800000, 0);
        m.SetXmm(1, 0x3F000000, 0);
        m.SetXmm(2, 5, 0);
        m.SetXmm(3, 7, 0);
        Assert.Equal(CpuExitReason.Hlt, m.Run());
        Assert.Equal(0UL, m.GetXmm(0).Low);
        Assert.Equal(0UL, m.GetXmm(2).Low);
        Assert.Equal(AllMasked | SseFloat.FlushToZero | SseFloat.DenormalsAreZero | SseFloat.FlagUnderflow | SseFloat.FlagPrecision,
            m.Cpu.Fpu.Mxcsr);
    }

    [Fact]
    public void Comiss_with_a_nan_sets_zf_pf_cf_clears_of_sf_af_and_signals_invalid()
    {
        using var m = Machine(AllMasked, a =>
        {
            a.push(0x8D5);         // OF SF ZF AF PF CF set
            a.popfq();
            a.comiss(xmm0, xmm1);
            a.pushfq();
            a.pop(rbx);
            a.ucomisd(xmm2, xmm3);  // 1 < 2 → CF only
            a.pushfq();
            a.pop(rcx);
        });
        m.SetXmm(0, 0x7FC00000, 0);
        m.SetXmm(1, 0x3F800000, 0);
        m.SetXmm(2, Bits(1), 0);
        m.SetXmm(3, Bits(2), 0);
        Assert.Equal(CpuExitReason.Hlt, m.Run());
        const ulong arithmetic = X86.FlagCarry | X86.FlagParity | X86.FlagAdjust | X86.FlagZero | X86.FlagSign | X86.FlagOverflow;
        Assert.Equal(X86.FlagZero | X86.FlagParity | X86.FlagCarry, m.Cpu.Rbx & arithmetic);
        Assert.Equal(X86.FlagCarry, m.Cpu.Rcx & arithmetic);
        Assert.Equal(AllMasked | SseFloat.FlagInvalid, m.Cpu.Fpu.Mxcsr);
    }

    [Fact]
    public void Unmasked_invalid_on_ucomiss_with_a_signalling_nan_leaves_rflags()
    {
        using var m = Machine(Unmask(SseFloat.FlagInvalid), a =>
        {
            a.xor(eax, eax);        // ZF=1 PF=1, CF=0
            a.ucomiss(xmm0, xmm1);
        });
        m.SetXmm(0, 0x3F800000, 0);
        m.SetXmm(1, 0x7F800001, 0);
        Assert.Equal(CpuExitReason.Hlt, m.Run());
        Assert.Equal(CpuTestMachine.AfterHandler(X86.VectorSimdFloatingPoint), m.Cpu.Rip);
        Assert.Equal(0UL, m.Cpu.Rflags & X86.FlagCarry);
        Assert.NotEqual(0UL, m.Cpu.Rflags & X86.FlagZero);
    }

    [Fact]
    public void Cmpltps_signals_on_quiet_nans_and_fills_lanes()
    {
        using var m = Machine(AllMasked, a => a.cmpps(xmm0, xmm1, 1));
        m.SetXmm(0, Singles(1, float.NaN), Singles(3, -0f));
        m.SetXmm(1, Singles(2, 1), Singles(3, 0f));
        Assert.Equal(CpuExitReason.Hlt, m.Run());
        Assert.Equal((0x00000000_FFFFFFFFUL, 0UL), m.GetXmm(0));
        Assert.Equal(AllMasked | SseFloat.FlagInvalid, m.Cpu.Fpu.Mxcsr);
    }

    [Fact]
    public void Packed_conversions_write_indefinite_and_zero_the_upper_half()
    {
        using var m = Machine(AllMasked, a =>
        {
            a.cvttpd2dq(xmm0, xmm1);
            a.cvtpd2ps(xmm2, xmm3);
            a.mov(edi, (uint)Data);
            a.cvtps2pd(xmm4, __qword_ptr[rdi + 4]); // 64-bit operand, no alignment demand
        });
        m.SetXmm(0, ~0UL, ~0UL);
        m.SetXmm(1, Bits(-7.9), Bits(double.NaN));
        m.SetXmm(2, ~0UL, ~0UL);
        m.SetXmm(3, Bits(1.5), Bits(1e300));
        m.Memory.Write64(Data + 4, Singles(0.25f, -2f));
        Assert.Equal(CpuExitReason.Hlt, m.Run());
        Assert.Equal((0x80000000_FFFFFFF9UL, 0UL), m.GetXmm(0));
        Assert.Equal((Singles(1.5f, float.PositiveInfinity), 0UL), m.GetXmm(2));
        Assert.Equal((Bits(0.25), Bits(-2)), m.GetXmm(4));
        Assert.Equal(AllMasked | SseFloat.FlagInvalid | SseFloat.FlagPrecision | SseFloat.FlagOverflow, m.Cpu.Fpu.Mxcsr);
    }

    [Fact]
    public void Mmx_operand_conversions_round_per_mxcsr_and_switch_to_mmx_mode_only_when_touching_mmx_registers()
    {
        using var m = Machine(AllMasked, a =>
        {
            a.mov(edi, (uint)Data);
            a.cvtpi2pd(xmm5, __qword_ptr[rdi]);   // memory source: the x87 unit stays as it is
            a.fnstenv(__[rdi + 0x100]);
            a.movq(mm1, __qword_ptr[rdi]);
            a.emms();
            a.cvtpi2ps(xmm0, mm1);               // 2^24 + 1 rounds to 2^24 (PE); -3 is exact
            a.cvtps2pi(mm2, xmm3);               // 2.5 → 2, -2.5 → -2 (to even)
            a.cvttpd2pi(mm3, xmm4);              // NaN → indefinite (IE), -7.9 → -7
            a.movq(rax, mm2);
            a.movq(rbx, mm3);
        });
        m.Memory.Write64(Data, (ulong)(uint)((1 << 24) + 1) | (ulong)unchecked((uint)-3) << 32);
        m.SetXmm(0, ~0UL, 0x1234);
        m.SetXmm(3, Singles(2.5f, -2.5f), 0);
        m.SetXmm(4, Bits(double.NaN), Bits(-7.9));
        Assert.Equal(CpuExitReason.Hlt, m.Run());
        Assert.Equal((Bits(16777217), Bits(-3)), m.GetXmm(5));
        Assert.Equal((Singles(16777216f, -3f), 0x1234UL), m.GetXmm(0));
        Assert.Equal(0xFFFFFFFE_00000002UL, m.Cpu.Rax);
        Assert.Equal(0xFFFFFFF9_80000000UL, m.Cpu.Rbx);
        Assert.Equal(AllMasked | SseFloat.FlagPrecision | SseFloat.FlagInvalid, m.Cpu.Fpu.Mxcsr);
        // FNSTENV's tag word after the memory-source CVTPI2PD: still all empty.
        Assert.Equal(0xFFFF, m.Memory.Read16(Data + 0x100 + 8));
        // The later MMX-register forms left every register valid.
        Assert.Equal(0xFF, m.Cpu.Fpu.Ftwx);
    }

    [Fact]
    public void A_fault_on_the_memory_operand_comes_before_any_floating_point_exception()
    {
        using var m = Machine(Unmask(SseFloat.FlagDivideByZero), a =>
        {
            a.mov(edi, (uint)Data + 8);
            a.divps(xmm0, __xmmword_ptr[rdi]); // misaligned: #GP, although every lane would divide by zero
        });
        m.SetXmm(0, Singles(1, 1), Singles(1, 1));
        Assert.Equal(CpuExitReason.Hlt, m.Run());
        Assert.Equal(CpuTestMachine.AfterHandler(X86.VectorGeneralProtection), m.Cpu.Rip);
        Assert.Equal(Unmask(SseFloat.FlagDivideByZero), m.Cpu.Fpu.Mxcsr);
    }
}
