using Iced.Intel;
using KvmSharp.Soft.Cpu;
using static Iced.Intel.AssemblerRegisters;

namespace KvmSharp.Soft.Tests.Cpu;

/// <summary>
/// SSSE3 on the Soft CPU, both the XMM and the MMX forms: results against the host processor, which runs the same
/// instruction natively (<see cref="HostSseStub"/>), for edge-heavy operands and every interesting PALIGNR shift; then
/// the SDM's corner cases by name, the alignment rules, and how the MMX forms take over the x87 unit.
/// </summary>
public class Ssse3Tests
{
    private const ulong Code = CpuTestMachine.CodeBase;
    private const ulong Data = 0x200000;
    private const int OperandPairs = 1500;
    /// <summary>A 4 KiB page (below 2 MiB, where <see cref="CpuTestMachine.ChangePte"/> works) that tests make not present.</summary>
    private const ulong NotPresentPage = 0x181000;

    private static readonly (string Name, Action<Assembler, AssemblerRegisterXMM, AssemblerRegisterXMM> Xmm, Action<Assembler, AssemblerRegisterMM, AssemblerRegisterMM> Mmx)[] s_forms =
    [
        ("pabsb", (a, d, s) => a.pabsb(d, s), (a, d, s) => a.pabsb(d, s)),
        ("pabsw", (a, d, s) => a.pabsw(d, s), (a, d, s) => a.pabsw(d, s)),
        ("pabsd", (a, d, s) => a.pabsd(d, s), (a, d, s) => a.pabsd(d, s)),
        ("phaddw", (a, d, s) => a.phaddw(d, s), (a, d, s) => a.phaddw(d, s)),
        ("phaddd", (a, d, s) => a.phaddd(d, s), (a, d, s) => a.phaddd(d, s)),
        ("phaddsw", (a, d, s) => a.phaddsw(d, s), (a, d, s) => a.phaddsw(d, s)),
        ("phsubw", (a, d, s) => a.phsubw(d, s), (a, d, s) => a.phsubw(d, s)),
        ("phsubd", (a, d, s) => a.phsubd(d, s), (a, d, s) => a.phsubd(d, s)),
        ("phsubsw", (a, d, s) => a.phsubsw(d, s), (a, d, s) => a.phsubsw(d, s)),
        ("pmaddubsw", (a, d, s) => a.pmaddubsw(d, s), (a, d, s) => a.pmaddubsw(d, s)),
        ("pmulhrsw", (a, d, s) => a.pmulhrsw(d, s), (a, d, s) => a.pmulhrsw(d, s)),
        ("pshufb", (a, d, s) => a.pshufb(d, s), (a, d, s) => a.pshufb(d, s)),
        ("psignb", (a, d, s) => a.psignb(d, s), (a, d, s) => a.psignb(d, s)),
        ("psignw", (a, d, s) => a.psignw(d, s), (a, d, s) => a.psignw(d, s)),
        ("psignd", (a, d, s) => a.psignd(d, s), (a, d, s) => a.psignd(d, s)),
    ];

    private static readonly int[] s_xmmShifts = [0, 1, 5, 8, 15, 16, 17, 24, 31, 32, 33, 200, 255];
    private static readonly int[] s_mmxShifts = [0, 1, 3, 7, 8, 9, 15, 16, 17, 255];

    private static IEnumerable<(string Name, Action<Assembler> Body)> Instructions()
    {
        foreach (var form in s_forms)
        {
            yield return (form.Name, a => form.Xmm(a, xmm0, xmm1));
            yield return (form.Name + " same", a => form.Xmm(a, xmm0, xmm0));
            // MMX: both operands move into MMX registers and the result back to xmm0; EMMS leaves the host's x87 unit empty.
            yield return (form.Name + " mm", a => { a.movdq2q(mm0, xmm0); a.movdq2q(mm1, xmm1); form.Mmx(a, mm0, mm1); a.movq2dq(xmm0, mm0); a.emms(); });
        }
        foreach (int shift in s_xmmShifts)
            yield return ($"palignr {shift}", a => a.palignr(xmm0, xmm1, (byte)shift));
        foreach (int shift in s_mmxShifts)
            yield return ($"palignr mm {shift}", a => { a.movdq2q(mm0, xmm0); a.movdq2q(mm1, xmm1); a.palignr(mm0, mm1, (byte)shift); a.movq2dq(xmm0, mm0); a.emms(); });
    }

    public static readonly TheoryData<string> InstructionNames = new(Instructions().Select(i => i.Name));

    /// <summary>Lanes drawn from the values where saturation, sign and rounding change: 0, ±1, the extremes and their neighbours.</summary>
    private static IEnumerable<((ulong, ulong) A, (ulong, ulong) B)> Operands(int seed)
    {
        ulong[] words = [0, 1, 0xFFFF, 0x7FFF, 0x8000, 0x8001, 0x7FFE, 0x4000, 0xC000, 0x00FF, 0xFF00, 0x0080, 0x807F, 0x3FFF];
        ulong[] dwords = [0, 1, 0xFFFFFFFF, 0x7FFFFFFF, 0x80000000, 0x80000001, 0x40000000, 0xC0000000];
        var random = new Random(seed);
        ulong Lane64()
        {
            ulong value = 0;
            switch (random.Next(4))
            {
                case 0:
                    for (int i = 0; i < 4; i++) value |= words[random.Next(words.Length)] << (16 * i);
                    return value;
                case 1:
                    return dwords[random.Next(dwords.Length)] | dwords[random.Next(dwords.Length)] << 32;
                case 2:
                    for (int i = 0; i < 8; i++) value |= (ulong)(byte)(random.Next(3) switch { 0 => 0x80, 1 => 0x7F, _ => random.Next(256) }) << (8 * i);
                    return value;
                default:
                    return (ulong)random.NextInt64() ^ (ulong)random.Next() << 40;
            }
        }
        for (int i = 0; i < OperandPairs; i++)
            yield return ((Lane64(), Lane64()), (Lane64(), Lane64()));
    }

    [Theory]
    [MemberData(nameof(InstructionNames))]
    public void Soft_matches_the_host_on_whole_registers(string name)
    {
        Action<Assembler> body = Instructions().Single(i => i.Name == name).Body;
        using var stub = new HostSseStub(body);
        using var m = new CpuTestMachine();
        m.SetupLongMode();
        ulong afterHlt = Code + (ulong)m.LoadCode(Code, a => { body(a); a.hlt(); }).Length;
        var mismatches = new List<string>();
        int count = 0;
        foreach (var (a, b) in Operands(name.GetHashCode(StringComparison.Ordinal) & 0xFFFF ^ name.Length))
        {
            var host = stub.Run128(a, b, 0x1F80);
            m.Cpu.Rip = Code;
            m.SetXmm(0, a.Item1, a.Item2);
            m.SetXmm(1, b.Item1, b.Item2);
            CpuExitReason reason = m.Run();
            count++;
            var soft = m.GetXmm(0);
            if (reason != CpuExitReason.Hlt || m.Cpu.Rip != afterHlt || soft != host.Xmm)
                mismatches.Add($"{name} a=({a.Item1:X},{a.Item2:X}) b=({b.Item1:X},{b.Item2:X}): host ({host.Xmm.Low:X},{host.Xmm.High:X}), soft {reason} ({soft.Low:X},{soft.High:X})");
        }
        Assert.True(mismatches.Count == 0, $"{mismatches.Count} of {count} differ, first ones:\n" + string.Join("\n", mismatches.Take(10)));
    }

    [Fact]
    public void The_sdm_corner_cases_by_name()
    {
        using var m = Machine(a =>
        {
            a.movdqa(xmm2, xmm0); a.pmulhrsw(xmm2, xmm0);     // 0x8000 × 0x8000 is the one product that does not fit: 0x8000
            a.movdqa(xmm3, xmm1); a.pabsb(xmm3, xmm1);        // |-128| stays 0x80
            a.movdqa(xmm4, xmm1); a.pmaddubsw(xmm4, xmm5);    // 128×127 twice is 0x7F00; 128×-128 twice just fits as 0x8000
            a.movdqa(xmm6, xmm0); a.phaddsw(xmm6, xmm7);      // 0x7FFF + 1 saturates; 0x8000 + 0x8000 too
            a.movdqa(xmm8, xmm9); a.psignw(xmm8, xmm10);      // negative, zero and positive selectors
        });
        m.SetXmm(0, 0x0001_7FFF_8000_8000, 0x8000_8000_0001_7FFF);
        m.SetXmm(1, 0x8080_8080_8080_8080, 0xFF01_FF01_FF01_FF01);
        m.SetXmm(5, 0x8080_8080_7F7F_7F7F, 0x0000_0000_0000_0000);
        m.SetXmm(7, 0, 0);
        m.SetXmm(9, 0x8000_0003_0002_0001, 0x1234_1234_1234_1234);
        m.SetXmm(10, 0x0001_0000_FFFF_8000, 0x0000_0000_0000_0000);
        Assert.Equal(CpuExitReason.Hlt, m.Run());
        Assert.Equal(0x8000_8000UL, m.GetXmm(2).Low & 0xFFFF_FFFF);
        Assert.Equal((0x8080_8080_8080_8080UL, 0x0101_0101_0101_0101UL), m.GetXmm(3));
        Assert.Equal((0x8000_8000_7F00_7F00UL, 0UL), m.GetXmm(4));
        Assert.Equal((0x8000_7FFF_7FFF_8000UL, 0UL), m.GetXmm(6));
        Assert.Equal((0x8000_0000_FFFE_FFFFUL, 0UL), m.GetXmm(8));
    }

    [Fact]
    public void Pmaddubsw_reads_the_destination_unsigned_and_the_source_signed()
    {
        using var m = Machine(a => a.pmaddubsw(xmm0, xmm1));
        m.SetXmm(0, 0xFFFF, 0);        // bytes 255, 255
        m.SetXmm(1, 0x7F7F, 0);        // bytes 127, 127
        Assert.Equal(CpuExitReason.Hlt, m.Run());
        Assert.Equal((0x7FFFUL, 0UL), m.GetXmm(0));
        using var swapped = Machine(a => a.pmaddubsw(xmm0, xmm1));
        swapped.SetXmm(0, 0x7F7F, 0);
        swapped.SetXmm(1, 0xFFFF, 0);  // -1, -1: 127×-1 twice is -254
        Assert.Equal(CpuExitReason.Hlt, swapped.Run());
        Assert.Equal((0xFF02UL, 0UL), swapped.GetXmm(0));
    }

    [Fact]
    public void Pshufb_indexes_16_bytes_in_xmm_and_8_in_mmx()
    {
        using var m = Machine(a =>
        {
            a.pshufb(xmm0, xmm1);
            a.movdq2q(mm2, xmm2); a.movdq2q(mm3, xmm3);
            a.pshufb(mm2, mm3);
            a.movq2dq(xmm2, mm2);
        });
        m.SetXmm(0, 0x0706050403020100, 0x0F0E0D0C0B0A0908);
        m.SetXmm(1, 0x8F1F0F0E0D0C0B0A, 0x0001020304050607);   // bit 7 zeroes; only the low four bits index
        m.SetXmm(2, 0x1716151413121110, 0);
        m.SetXmm(3, 0x800F0E0D0C0B0A09, 0);                   // only the low three bits index in MMX
        Assert.Equal(CpuExitReason.Hlt, m.Run());
        Assert.Equal((0x000F0F0E0D0C0B0AUL, 0x0001020304050607UL), m.GetXmm(0));
        Assert.Equal((0x0017161514131211UL, 0UL), m.GetXmm(2));
    }

    [Fact]
    public void Palignr_shifts_the_destination_source_pair_and_zero_fills_past_it()
    {
        using var m = Machine(a =>
        {
            a.movdqa(xmm2, xmm0); a.palignr(xmm2, xmm1, 4);
            a.movdqa(xmm3, xmm0); a.palignr(xmm3, xmm1, 20);
            a.movdqa(xmm4, xmm0); a.palignr(xmm4, xmm1, 32);
            a.movdq2q(mm0, xmm0); a.movdq2q(mm1, xmm1); a.palignr(mm0, mm1, 3); a.movq2dq(xmm5, mm0);
            a.movdq2q(mm0, xmm0); a.palignr(mm0, mm1, 12); a.movq2dq(xmm6, mm0);
            a.movdq2q(mm0, xmm0); a.palignr(mm0, mm1, 16); a.movq2dq(xmm7, mm0);
        });
        m.SetXmm(0, 0x2726252423222120, 0x2F2E2D2C2B2A2928);   // destination: the upper half of the pair
        m.SetXmm(1, 0x0706050403020100, 0x0F0E0D0C0B0A0908);   // source: the lower half
        Assert.Equal(CpuExitReason.Hlt, m.Run());
        Assert.Equal((0x0B0A090807060504UL, 0x232221200F0E0D0CUL), m.GetXmm(2));
        Assert.Equal((0x2B2A292827262524UL, 0x000000002F2E2D2CUL), m.GetXmm(3));
        Assert.Equal((0UL, 0UL), m.GetXmm(4));
        Assert.Equal((0x2221200706050403UL, 0UL), m.GetXmm(5));
        Assert.Equal((0x0000000027262524UL, 0UL), m.GetXmm(6));
        Assert.Equal((0UL, 0UL), m.GetXmm(7));
    }

    [Fact]
    public void The_xmm_memory_forms_demand_16_byte_alignment_and_the_mmx_forms_none()
    {
        using var misaligned = Machine(a => { a.mov(edi, (uint)Data + 8); a.pshufb(xmm0, __xmmword_ptr[rdi]); });
        misaligned.SetXmm(0, 0x1111, 0x2222);
        Assert.Equal(CpuExitReason.Hlt, misaligned.Run());
        Assert.Equal(CpuTestMachine.AfterHandler(X86.VectorGeneralProtection), misaligned.Cpu.Rip);
        Assert.Equal((0x1111UL, 0x2222UL), misaligned.GetXmm(0));

        using var mmx = Machine(a => { a.mov(edi, (uint)Data + 3); a.pabsw(mm1, __qword_ptr[rdi]); a.movq(rax, mm1); });
        mmx.Memory.Write64(Data + 3, 0xFFFF_8000_7FFF_0005);
        Assert.Equal(CpuExitReason.Hlt, mmx.Run());
        Assert.Equal(0x0001_8000_7FFF_0005UL, mmx.Cpu.Rax);

        using var aligned = Machine(a => { a.mov(edi, (uint)Data); a.psignd(xmm0, __xmmword_ptr[rdi]); });
        aligned.Memory.Write64(Data, 0xFFFFFFFF_00000001);
        aligned.Memory.Write64(Data + 8, 0x00000000_80000000);
        aligned.SetXmm(0, 0x00000005_00000007, 0x00000009_0000000B);
        Assert.Equal(CpuExitReason.Hlt, aligned.Run());
        Assert.Equal((0xFFFFFFFB_00000007UL, 0x00000000_FFFFFFF5UL), aligned.GetXmm(0));
    }

    [Fact]
    public void The_mmx_forms_switch_the_x87_unit_to_mmx_use()
    {
        using var m = Machine(a =>
        {
            a.fninit();
            a.fld1();                                       // TOP 7, one register in use
            a.phaddw(mm1, mm2);
        });
        Assert.Equal(CpuExitReason.Hlt, m.Run());
        Assert.Equal(0, (m.Cpu.Fpu.Fsw >> 11) & 7);
        Assert.Equal(0xFF, m.Cpu.Fpu.Ftwx);
    }

    [Fact]
    public void A_faulting_mmx_form_leaves_the_x87_unit_as_it_was()
    {
        using var m = Machine(a =>
        {
            a.fninit();
            a.fld1();
            a.mov(edi, (uint)NotPresentPage);
            a.psignb(mm1, __qword_ptr[rdi]);
        });
        m.ChangePte(NotPresentPage, clear: 1, set: 0);
        Assert.Equal(CpuExitReason.Hlt, m.Run());
        Assert.Equal(CpuTestMachine.AfterHandler(X86.VectorPageFault), m.Cpu.Rip);
        Assert.Equal(7, (m.Cpu.Fpu.Fsw >> 11) & 7);
        Assert.Equal(0x80, m.Cpu.Fpu.Ftwx);
    }

    [Fact]
    public void A_pending_x87_exception_is_reported_before_an_mmx_form_runs()
    {
        using var m = Machine(a =>
        {
            a.fninit();
            a.mov(edi, (uint)Data);
            a.fldcw(__word_ptr[rdi]);                       // divide-by-zero unmasked
            a.fld1();
            a.fldz();
            a.fdivp(st1, st0);                                    // 1/0: pending, reported by the next waiting instruction
            a.pabsb(mm0, mm1);
        });
        m.Memory.Write16(Data, 0x037B);
        Assert.Equal(CpuExitReason.Hlt, m.Run());
        Assert.Equal(CpuTestMachine.AfterHandler(X86.VectorFloatingPoint), m.Cpu.Rip);
        Assert.NotEqual(0, (m.Cpu.Fpu.Fsw >> 11) & 7);      // TOP untouched: the PABSB did not run
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Cr0_em_makes_both_forms_invalid_and_cr0_ts_makes_them_unavailable(bool emulate)
    {
        foreach (bool mmx in new[] { false, true })
        {
            using var m = Machine(a => { if (mmx) a.pmulhrsw(mm0, mm1); else a.pmulhrsw(xmm0, xmm1); });
            m.Cpu.Cr0 |= emulate ? X86.Cr0Em : X86.Cr0Ts;
            m.Cpu.NotifyStateChanged();
            Assert.Equal(CpuExitReason.Hlt, m.Run());
            Assert.Equal(CpuTestMachine.AfterHandler(emulate ? X86.VectorInvalidOpcode : X86.VectorDeviceNotAvailable), m.Cpu.Rip);
        }
    }

    [Fact]
    public void The_xmm_forms_are_invalid_without_cr4_osfxsr()
    {
        using var m = Machine(a => a.pshufb(xmm0, xmm1));
        m.Cpu.Cr4 &= ~X86.Cr4Osfxsr;
        m.Cpu.NotifyStateChanged();
        Assert.Equal(CpuExitReason.Hlt, m.Run());
        Assert.Equal(CpuTestMachine.AfterHandler(X86.VectorInvalidOpcode), m.Cpu.Rip);
    }

    // ---- helpers ----

    private static CpuTestMachine Machine(Action<Assembler> build)
    {
        var m = new CpuTestMachine();
        m.SetupLongMode();
        m.LoadCode(Code, a => { build(a); a.hlt(); });
        return m;
    }
}
