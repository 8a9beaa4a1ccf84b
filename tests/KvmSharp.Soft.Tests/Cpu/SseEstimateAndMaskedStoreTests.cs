using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Iced.Intel;
using KvmSharp.Soft.Cpu;
using static Iced.Intel.AssemblerRegisters;

namespace KvmSharp.Soft.Tests.Cpu;

/// <summary>
/// RCPPS/RCPSS/RSQRTPS/RSQRTSS, whose bits the SDM leaves to the implementation within a bound, and the byte-masked
/// stores MASKMOVDQU/MASKMOVQ.
/// </summary>
public class SseEstimateAndMaskedStoreTests
{
    private const ulong Code = CpuTestMachine.CodeBase;
    private const ulong Data = 0x200000;

    private static CpuTestMachine Machine(Action<Assembler> build)
    {
        var m = new CpuTestMachine();
        m.SetupLongMode();
        m.LoadCode(Code, a => { build(a); a.hlt(); });
        return m;
    }

    private static uint[] Estimate(bool squareRoot, uint[] inputs)
    {
        var results = new uint[inputs.Length];
        using var m = Machine(a => { if (squareRoot) a.rsqrtps(xmm0, xmm1); else a.rcpps(xmm0, xmm1); });
        for (int start = 0; start < inputs.Length; start += 4)
        {
            m.Cpu.Rip = Code;
            m.Cpu.Fpu.Xmm[2] = inputs[start] | (ulong)inputs[start + 1] << 32;
            m.Cpu.Fpu.Xmm[3] = inputs[start + 2] | (ulong)inputs[start + 3] << 32;
            m.Cpu.Fpu.Mxcsr = 0x1F80;
            Assert.Equal(CpuExitReason.Hlt, m.Run());
            Assert.Equal(0x1F80u, m.Cpu.Fpu.Mxcsr); // no flag, whatever the input
            for (int i = 0; i < 4; i++)
                results[start + i] = (uint)(m.Cpu.Fpu.Xmm[i / 2] >> (32 * (i % 2)));
        }
        return results;
    }

    private static uint[] Inputs()
    {
        var rng = new Random(20261125);
        var inputs = new List<uint>
        {
            0x0000_0000, 0x8000_0000, 0x0000_0001, 0x807F_FFFF, 0x7F80_0000, 0xFF80_0000, 0x7FC0_0000, 0x7F80_0001,
            0xFFA1_2345, 0x3F80_0000, 0xBF80_0000, 0x7F7F_FFFF, 0x0080_0000, 0x7E80_0000, 0x7F00_0000, 0x4000_0000,
        };
        while (inputs.Count < 4096) inputs.Add((uint)rng.NextInt64(0, 1L << 32));
        return [.. inputs];
    }

    /// <summary>What kind of value a result is, which the processor and Soft must agree on even where their bits differ.</summary>
    private static string Kind(uint bits) =>
        (bits & 0x7F80_0000) == 0x7F80_0000 ? ((bits & 0x7F_FFFF) != 0 ? $"nan 0x{bits:x}" : $"inf {bits >> 31}")
        : (bits & 0x7FFF_FFFF) == 0 ? $"zero {bits >> 31}" : $"finite {bits >> 31}";

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Estimates_are_within_the_SDM_bound_and_agree_with_the_host_on_every_special_case(bool squareRoot)
    {
        uint[] inputs = Inputs();
        uint[] soft = Estimate(squareRoot, inputs);
        for (int i = 0; i < inputs.Length; i++)
        {
            var operand = Vector128.CreateScalar(BitConverter.UInt32BitsToSingle(inputs[i]));
            uint host = BitConverter.SingleToUInt32Bits((squareRoot ? Sse.ReciprocalSqrtScalar(operand) : Sse.ReciprocalScalar(operand)).ToScalar());
            Assert.True(Kind(host) == Kind(soft[i]), $"input 0x{inputs[i]:x}: host {Kind(host)}, Soft {Kind(soft[i])}");
            if (!Kind(host).StartsWith("finite", StringComparison.Ordinal)) continue;
            double x = BitConverter.UInt32BitsToSingle(inputs[i]);
            double exact = squareRoot ? 1 / Math.Sqrt(x) : 1 / x;
            double error = Math.Abs(BitConverter.UInt32BitsToSingle(soft[i]) - exact) / Math.Abs(exact);
            Assert.True(error <= 1.5 * Math.Pow(2, -12), $"input 0x{inputs[i]:x}: relative error {error}");
        }
    }

    [Fact]
    public void Scalar_estimates_keep_the_upper_lanes()
    {
        using var m = Machine(a => a.rcpss(xmm0, xmm1));
        m.Cpu.Fpu.Xmm[0] = 0x1111_1111_2222_2222;
        m.Cpu.Fpu.Xmm[1] = 0x3333_3333_4444_4444;
        m.Cpu.Fpu.Xmm[2] = BitConverter.SingleToUInt32Bits(4f);
        Assert.Equal(CpuExitReason.Hlt, m.Run());
        Assert.Equal(0x1111_1111_0000_0000UL | BitConverter.SingleToUInt32Bits(0.25f), m.Cpu.Fpu.Xmm[0]);
        Assert.Equal(0x3333_3333_4444_4444UL, m.Cpu.Fpu.Xmm[1]);
    }

    [Fact]
    public void Maskmovdqu_writes_exactly_the_selected_bytes_at_rdi()
    {
        using var m = Machine(a => { a.mov(rdi, Data + 3); a.maskmovdqu(xmm1, xmm2); });
        m.Memory.Write(Data, Enumerable.Repeat((byte)0xEE, 32).ToArray());
        m.Cpu.Fpu.Xmm[2] = 0x0706_0504_0302_0100; m.Cpu.Fpu.Xmm[3] = 0x0F0E_0D0C_0B0A_0908; // data
        m.Cpu.Fpu.Xmm[4] = 0x8000_0080_7F00_FF80; m.Cpu.Fpu.Xmm[5] = 0xFF00_0000_0000_0081; // mask: bytes 0, 1, 4, 7, 8, 15
        Assert.Equal(CpuExitReason.Hlt, m.Run());
        byte[] expected = Enumerable.Repeat((byte)0xEE, 32).ToArray();
        foreach (int i in new[] { 0, 1, 4, 7, 8, 15 }) expected[3 + i] = (byte)i;
        Assert.Equal(expected, m.Memory.Span(Data, 32).ToArray());
    }

    [Fact]
    public void Maskmovq_uses_edi_with_an_address_size_prefix_and_switches_to_mmx()
    {
        using var m = Machine(a =>
        {
            a.mov(rdi, 0xFFFF_FFFF_0000_0000UL | Data);
            a.db(0x67, 0x0F, 0xF7, 0xC1); // maskmovq mm0, mm1 with 32-bit addressing: [edi]
        });
        m.Memory.Write(Data, new byte[8]);
        m.Cpu.Fpu.St[0] = 0x8877_6655_4433_2211; // MM0: data
        m.Cpu.Fpu.St[2] = 0x80FF_0000_0000_0080; // MM1: mask, bytes 0, 6, 7
        m.Cpu.Fpu.Fsw = 0; m.Cpu.Fpu.Ftwx = 0;
        Assert.Equal(CpuExitReason.Hlt, m.Run());
        Assert.Equal(new byte[] { 0x11, 0, 0, 0, 0, 0, 0x77, 0x88 }, m.Memory.Span(Data, 8).ToArray());
        Assert.Equal(0xFF, m.Cpu.Fpu.Ftwx); // MMX use: every register valid
    }
}
