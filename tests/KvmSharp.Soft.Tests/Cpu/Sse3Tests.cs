using Iced.Intel;
using KvmSharp.Soft;
using KvmSharp.Soft.Cpu;
using static Iced.Intel.AssemblerRegisters;
using static KvmSharp.Soft.Tests.Cpu.FloatBits;

namespace KvmSharp.Soft.Tests.Cpu;

/// <summary>
/// SSE3 on the Soft CPU: whole-register results, flags and MXCSR against the host processor for every MXCSR mode the
/// SSE2 tests use, then what random runs reach badly — the alignment demands of the memory forms, #XM with no lane
/// written, FISTTP's truncation and its invalid cases, and the CPUID bits.
/// </summary>
public class Sse3Tests
{
    private const ulong Code = CpuTestMachine.CodeBase;
    private const ulong Data = 0x200000;
    private const uint AllMasked = 0x1F80;
    private const int VectorPairs = 1200;

    public static readonly TheoryData<string> InstructionNames = new(Instructions().Select(i => i.Name));

    private static IEnumerable<(string Name, Action<Assembler> Body)> Instructions()
    {
        yield return ("addsubps", a => a.addsubps(xmm0, xmm1));
        yield return ("addsubpd", a => a.addsubpd(xmm0, xmm1));
        yield return ("haddps", a => a.haddps(xmm0, xmm1));
        yield return ("haddpd", a => a.haddpd(xmm0, xmm1));
        yield return ("hsubps", a => a.hsubps(xmm0, xmm1));
        yield return ("hsubpd", a => a.hsubpd(xmm0, xmm1));
        // Both halves from the same register: the pairs' order must not depend on which operand they come from.
        yield return ("haddps same", a => a.haddps(xmm0, xmm0));
        yield return ("hsubpd same", a => a.hsubpd(xmm0, xmm0));
        yield return ("movsldup", a => a.movsldup(xmm0, xmm1));
        yield return ("movshdup", a => a.movshdup(xmm0, xmm1));
        yield return ("movddup", a => a.movddup(xmm0, xmm1));
    }

    /// <summary>128-bit operands whose lanes are the special and random scalar pairs of the SSE2 tests, in both formats.</summary>
    private static IEnumerable<((ulong, ulong) A, (ulong, ulong) B)> VectorOperands(int seed)
    {
        var singles = SseFloatHardwareTests.Pairs(isDouble: false, seed).ToArray();
        var doubles = SseFloatHardwareTests.Pairs(isDouble: true, seed + 1).ToArray();
        var random = new Random(seed);
        for (int i = 0; i < VectorPairs; i++)
        {
            if (i % 2 == 0)
            {
                var p = new (ulong A, ulong B)[4];
                for (int lane = 0; lane < 4; lane++) p[lane] = singles[random.Next(singles.Length)];
                // The horizontal forms add neighbours of one operand: pair A's lanes with B's partners inside A too.
                yield return ((p[0].A | p[0].B << 32, p[1].A | p[1].B << 32), (p[2].A | p[3].B << 32, p[3].A | p[2].B << 32));
            }
            else
            {
                var low = doubles[random.Next(doubles.Length)];
                var high = doubles[random.Next(doubles.Length)];
                yield return i % 4 == 1 ? ((low.A, low.B), (high.A, high.B)) : ((low.A, high.A), (low.B, high.B));
            }
        }
    }

    [Theory]
    [MemberData(nameof(InstructionNames))]
    public void Soft_matches_the_host_on_whole_registers_flags_and_mxcsr(string name)
    {
        Action<Assembler> body = Instructions().Single(i => i.Name == name).Body;
        using var stub = new HostSseStub(body);
        using var m = new CpuTestMachine();
        m.SetupLongMode();
        ulong afterHlt = Code + (ulong)m.LoadCode(Code, a => { body(a); a.hlt(); }).Length;
        var mismatches = new List<string>();
        int count = 0;
        foreach (var (a, b) in VectorOperands(name.Length * 11 + name[^1]))
        {
            foreach (uint mode in new uint[] { AllMasked, AllMasked | 1 << 13, AllMasked | 3 << 13 | SseFloat.FlushToZero | SseFloat.DenormalsAreZero, AllMasked | 2 << 13 | SseFloat.FlushToZero })
            {
                var host = stub.Run128(a, b, mode);
                m.Cpu.Rip = Code;
                m.Cpu.Fpu.Mxcsr = mode;
                m.SetXmm(0, a.Item1, a.Item2);
                m.SetXmm(1, b.Item1, b.Item2);
                m.Cpu.NotifyStateChanged();
                CpuExitReason reason = m.Run();
                count++;
                var soft = (m.GetXmm(0), m.Cpu.Fpu.Mxcsr);
                var expected = (host.Xmm, host.Mxcsr);
                if (reason != CpuExitReason.Hlt || m.Cpu.Rip != afterHlt || soft != expected)
                    mismatches.Add($"{name} a=({a.Item1:X},{a.Item2:X}) b=({b.Item1:X},{b.Item2:X}) mxcsr={mode:X}: host {expected}, soft {reason} {soft}");
            }
        }
        Assert.True(count > 1000, $"only {count} cases");
        Assert.True(mismatches.Count == 0, $"{mismatches.Count} of {count} differ, first ones:\n" + string.Join("\n", mismatches.Take(10)));
    }

    [Fact]
    public void Horizontal_forms_pair_neighbours_destination_first_and_addsub_subtracts_in_even_lanes()
    {
        using var m = Machine(AllMasked, a =>
        {
            a.movaps(xmm2, xmm0); a.haddps(xmm2, xmm1);
            a.movaps(xmm3, xmm0); a.hsubps(xmm3, xmm1);
            a.movaps(xmm4, xmm0); a.addsubps(xmm4, xmm1);
            a.movapd(xmm5, xmm6); a.haddpd(xmm5, xmm7);
            a.movapd(xmm8, xmm6); a.hsubpd(xmm8, xmm7);
            a.movapd(xmm9, xmm6); a.addsubpd(xmm9, xmm7);
        });
        m.SetXmm(0, Singles(1, 2), Singles(4, 8));
        m.SetXmm(1, Singles(16, 32), Singles(64, 128));
        m.SetXmm(6, Bits(5), Bits(3));
        m.SetXmm(7, Bits(10), Bits(4));
        Assert.Equal(CpuExitReason.Hlt, m.Run());
        Assert.Equal((Singles(3, 12), Singles(48, 192)), m.GetXmm(2));
        Assert.Equal((Singles(-1, -4), Singles(-16, -64)), m.GetXmm(3));
        Assert.Equal((Singles(1 - 16, 2 + 32), Singles(4 - 64, 8 + 128)), m.GetXmm(4));
        Assert.Equal((Bits(8), Bits(14)), m.GetXmm(5));
        Assert.Equal((Bits(2), Bits(6)), m.GetXmm(8));
        Assert.Equal((Bits(5 - 10), Bits(3 + 4)), m.GetXmm(9));
    }

    public static readonly TheoryData<string> AlignedForms = new() { "addsubps", "addsubpd", "haddps", "haddpd", "hsubps", "hsubpd", "movsldup", "movshdup" };

    [Theory]
    [MemberData(nameof(AlignedForms))]
    public void The_128_bit_memory_forms_demand_16_byte_alignment(string name)
    {
        Action<Assembler, AssemblerMemoryOperand> form = name switch
        {
            "addsubps" => (a, mem) => a.addsubps(xmm0, mem),
            "addsubpd" => (a, mem) => a.addsubpd(xmm0, mem),
            "haddps" => (a, mem) => a.haddps(xmm0, mem),
            "haddpd" => (a, mem) => a.haddpd(xmm0, mem),
            "hsubps" => (a, mem) => a.hsubps(xmm0, mem),
            "hsubpd" => (a, mem) => a.hsubpd(xmm0, mem),
            "movsldup" => (a, mem) => a.movsldup(xmm0, mem),
            _ => (a, mem) => a.movshdup(xmm0, mem),
        };
        foreach (int offset in new[] { 0, 4, 8 })
        {
            using var m = Machine(AllMasked, a => { a.mov(edi, (uint)Data + (uint)offset); form(a, __xmmword_ptr[rdi]); });
            m.SetXmm(0, 0x1234, 0x5678);
            Assert.Equal(CpuExitReason.Hlt, m.Run());
            if (offset == 0)
                Assert.True(m.Cpu.Rip > Code && m.Cpu.Rip < Code + 32, $"{name} aligned stopped at 0x{m.Cpu.Rip:x}");
            else
            {
                Assert.Equal(CpuTestMachine.AfterHandler(X86.VectorGeneralProtection), m.Cpu.Rip);
                Assert.Equal((0x1234UL, 0x5678UL), m.GetXmm(0));
            }
        }
    }

    [Fact]
    public void Movddup_reads_64_bits_without_an_alignment_demand_and_lddqu_none_at_all()
    {
        // A 4 KiB page below 2 MiB (where ChangePte works) followed by a not-present one.
        const ulong page = 0x180000;
        using var m = Machine(AllMasked, a =>
        {
            a.mov(edi, (uint)page);
            a.movddup(xmm0, __qword_ptr[rdi + 0xFF8]);   // the last 8 bytes before the not-present page
            a.lddqu(xmm1, __xmmword_ptr[rdi + 3]);
        });
        m.Memory.Write64(page + 0xFF8, 0x0123456789ABCDEF);
        for (int i = 0; i < 16; i++) m.Memory.Write8(page + 3 + (ulong)i, (byte)(0xA0 + i));
        m.ChangePte(page + 0x1000, clear: 1, set: 0);
        Assert.Equal(CpuExitReason.Hlt, m.Run());
        Assert.Equal((0x0123456789ABCDEFUL, 0x0123456789ABCDEFUL), m.GetXmm(0));
        Assert.Equal((0xA7A6A5A4A3A2A1A0UL, 0xAFAEADACABAAA9A8UL), m.GetXmm(1));
    }

    [Fact]
    public void An_unmasked_invalid_operation_in_one_lane_raises_xm_and_writes_no_lane()
    {
        uint mxcsr = AllMasked & ~(SseFloat.FlagInvalid << SseFloat.MaskShift);
        using var m = Machine(mxcsr, a => a.haddps(xmm0, xmm1));
        m.SetXmm(0, Singles(1, 2), Singles(3, 4));
        // Lane 3 of the result is +inf + -inf.
        m.SetXmm(1, Singles(5, 6), Singles(float.PositiveInfinity, float.NegativeInfinity));
        Assert.Equal(CpuExitReason.Hlt, m.Run());
        Assert.Equal(CpuTestMachine.AfterHandler(X86.VectorSimdFloatingPoint), m.Cpu.Rip);
        Assert.Equal((Singles(1, 2), Singles(3, 4)), m.GetXmm(0));
        Assert.Equal(mxcsr | SseFloat.FlagInvalid, m.Cpu.Fpu.Mxcsr);
    }

    [Fact]
    public void Without_osxmmexcpt_an_unmasked_exception_is_invalid_opcode()
    {
        uint mxcsr = AllMasked & ~(SseFloat.FlagPrecision << SseFloat.MaskShift);
        using var m = Machine(mxcsr, a => a.addsubpd(xmm0, xmm1));
        m.Cpu.Cr4 &= ~X86.Cr4Osxmmexcpt;
        m.Cpu.NotifyStateChanged();
        m.SetXmm(0, Bits(1), Bits(1));
        m.SetXmm(1, Bits(1e-30), Bits(0));
        Assert.Equal(CpuExitReason.Hlt, m.Run());
        Assert.Equal(CpuTestMachine.AfterHandler(X86.VectorInvalidOpcode), m.Cpu.Rip);
        Assert.Equal((Bits(1), Bits(1)), m.GetXmm(0));
        Assert.Equal(mxcsr | SseFloat.FlagPrecision, m.Cpu.Fpu.Mxcsr);
    }

    [Fact]
    public void Masked_flags_of_all_lanes_accumulate_and_rounding_follows_mxcsr()
    {
        // Round toward zero: lane 0, 1 minus a denormal (DE), becomes the single below 1; lane 1, 1 + 2^-30, stays 1; both inexact.
        uint mxcsr = AllMasked | 3 << SseFloat.RoundingShift;
        using var m = Machine(mxcsr, a => a.addsubps(xmm0, xmm1));
        m.SetXmm(0, Singles(1, 1), Singles(0, 0));
        m.SetXmm(1, BitConverter.SingleToUInt32Bits(float.Epsilon) | (ulong)BitConverter.SingleToUInt32Bits(MathF.Pow(2, -30)) << 32, 0);
        Assert.Equal(CpuExitReason.Hlt, m.Run());
        Assert.Equal((Singles(BitConverter.UInt32BitsToSingle(0x3F7FFFFF), 1), Singles(0, 0)), m.GetXmm(0));
        Assert.Equal(mxcsr | SseFloat.FlagDenormal | SseFloat.FlagPrecision, m.Cpu.Fpu.Mxcsr);
    }

    // ---- FISTTP ----

    private static CpuTestMachine X87Machine(Action<Assembler> build)
    {
        var m = new CpuTestMachine();
        m.SetupLongMode();
        m.LoadCode(Code, a => { a.mov(edi, (uint)Data); a.fninit(); build(a); a.hlt(); });
        return m;
    }

    [Fact]
    public void Fisttp_truncates_whatever_the_rounding_control_and_pops()
    {
        using var m = X87Machine(a =>
        {
            a.fldcw(__word_ptr[rdi + 0x100]);          // round to nearest would give 3 and -3
            a.fld(__qword_ptr[rdi + 0x108]);           // -2.75
            a.fld(__qword_ptr[rdi + 0x110]);           // 2.75
            a.fld(__qword_ptr[rdi + 0x108]);
            a.fisttp(__word_ptr[rdi]);
            a.fisttp(__dword_ptr[rdi + 8]);
            a.fisttp(__qword_ptr[rdi + 16]);
            a.fnstsw(ax);
        });
        m.Memory.Write16(Data + 0x100, 0x037F);
        m.Memory.Write64(Data + 0x108, Bits(-2.75));
        m.Memory.Write64(Data + 0x110, Bits(2.75));
        Assert.Equal(CpuExitReason.Hlt, m.Run());
        Assert.Equal(0xFFFEUL, m.Memory.Read16(Data));
        Assert.Equal(2UL, m.Memory.Read32(Data + 8));
        Assert.Equal(unchecked((ulong)-2L), m.Memory.Read64(Data + 16));
        ushort fsw = (ushort)m.Cpu.Rax;
        Assert.Equal(0, (fsw >> 11) & 7);              // three loads, three pops: TOP back at 0
        Assert.Equal(0x20, fsw & 0x3F);                // PE only: the fractions were lost
        Assert.Equal(0, m.Cpu.Fpu.Ftwx);
    }

    [Fact]
    public void Fisttp_out_of_range_stores_the_integer_indefinite_with_ie_when_masked()
    {
        using var m = X87Machine(a =>
        {
            a.fld(__qword_ptr[rdi + 0x108]);           // 40000.5: above 16-bit range
            a.fisttp(__word_ptr[rdi]);
            a.fld(__qword_ptr[rdi + 0x110]);           // -2^31 - 0.5 truncates to -2^31, which fits
            a.fisttp(__dword_ptr[rdi + 8]);
            a.fnstsw(ax);
        });
        m.Memory.Write64(Data + 0x108, Bits(40000.5));
        m.Memory.Write64(Data + 0x110, Bits(-2147483648.5));
        Assert.Equal(CpuExitReason.Hlt, m.Run());
        Assert.Equal(0x8000UL, m.Memory.Read16(Data));
        Assert.Equal(0x80000000UL, m.Memory.Read32(Data + 8));
        Assert.Equal(0x21, (int)m.Cpu.Rax & 0x3F);      // IE from the first, PE from the second
        Assert.Equal(0, m.Cpu.Fpu.Ftwx);
    }

    [Fact]
    public void Fisttp_from_an_empty_stack_is_a_stack_underflow()
    {
        using var m = X87Machine(a =>
        {
            a.fisttp(__qword_ptr[rdi]);
            a.fnstsw(ax);
        });
        m.Memory.Write64(Data, 0x1111111111111111);
        Assert.Equal(CpuExitReason.Hlt, m.Run());
        Assert.Equal(0x8000000000000000UL, m.Memory.Read64(Data));
        ushort fsw = (ushort)m.Cpu.Rax;
        Assert.Equal(0x41, fsw & 0x7F);                // IE and SF
        Assert.Equal(0, fsw & 0x200);                  // C1 = 0: underflow, not overflow
        Assert.Equal(1, (fsw >> 11) & 7);              // popped all the same
    }

    [Fact]
    public void Fisttp_with_ie_unmasked_stores_nothing_keeps_the_stack_and_reports_on_the_next_waiting_instruction()
    {
        using var m = X87Machine(a =>
        {
            a.fldcw(__word_ptr[rdi + 0x100]);
            a.fld(__qword_ptr[rdi + 0x108]);
            a.fisttp(__word_ptr[rdi]);
            a.fnstsw(__word_ptr[rdi + 0x120]);
            a.wait();
        });
        m.Memory.Write16(Data + 0x100, 0x037E);        // IE unmasked
        m.Memory.Write64(Data + 0x108, Bits(1e10));
        m.Memory.Write16(Data, 0x5555);
        Assert.Equal(CpuExitReason.Hlt, m.Run());
        Assert.Equal(CpuTestMachine.AfterHandler(X86.VectorFloatingPoint), m.Cpu.Rip);
        Assert.Equal(0x5555UL, m.Memory.Read16(Data));
        ushort fsw = (ushort)m.Memory.Read16(Data + 0x120);
        Assert.Equal(0x8081, fsw & 0x80FF);            // B, ES and IE
        Assert.Equal(7, (fsw >> 11) & 7);              // not popped
    }

    [Fact]
    public void Soft_offers_sse3_and_ssse3_but_not_monitor_in_cpuid()
    {
        using var kvm = Kvm.Open(new SoftKernel());
        var leaf1 = kvm.GetSupportedCpuid().Single(e => e.Function == 1);
        Assert.True((leaf1.Ecx & 1u << 0) != 0, "SSE3");
        Assert.True((leaf1.Ecx & 1u << 9) != 0, "SSSE3");
        Assert.True((leaf1.Ecx & 1u << 3) == 0, "MONITOR/MWAIT must not be offered");
    }

    // ---- helpers ----

    private static CpuTestMachine Machine(uint mxcsr, Action<Assembler> build)
    {
        var m = new CpuTestMachine();
        m.SetupLongMode();
        m.Cpu.Fpu.Mxcsr = mxcsr;
        m.LoadCode(Code, a => { build(a); a.hlt(); });
        return m;
    }
}
