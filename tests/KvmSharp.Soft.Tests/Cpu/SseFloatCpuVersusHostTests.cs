using Iced.Intel;
using KvmSharp.Soft.Cpu;
using static Iced.Intel.AssemblerRegisters;

namespace KvmSharp.Soft.Tests.Cpu;

/// <summary>
/// A small differential test: the same register-form SSE instruction runs on <see cref="X86Cpu"/> and natively on
/// the host, from the same XMM0/XMM1/RAX and MXCSR (every exception masked), and the whole of XMM0, RAX, the arithmetic
/// flags and MXCSR must agree. This covers the instruction-level plumbing the per-operation tests do not: lane layout of
/// packed forms, which lanes scalar forms keep, the zeroed halves of narrowing conversions, and flags OR-ed over lanes.
/// </summary>
public class SseFloatCpuVersusHostTests
{
    private const ulong ArithmeticFlags = 0x8D5;
    private const int VectorPairs = 1500;

    public static readonly TheoryData<string> InstructionNames = new(Instructions().Select(i => i.Name));

    private static IEnumerable<(string Name, Action<Assembler> Body)> Instructions()
    {
        yield return ("addps", a => a.addps(xmm0, xmm1));
        yield return ("addpd", a => a.addpd(xmm0, xmm1));
        yield return ("subps", a => a.subps(xmm0, xmm1));
        yield return ("subpd", a => a.subpd(xmm0, xmm1));
        yield return ("mulps", a => a.mulps(xmm0, xmm1));
        yield return ("mulpd", a => a.mulpd(xmm0, xmm1));
        yield return ("divps", a => a.divps(xmm0, xmm1));
        yield return ("divpd", a => a.divpd(xmm0, xmm1));
        yield return ("sqrtps", a => a.sqrtps(xmm0, xmm1));
        yield return ("sqrtpd", a => a.sqrtpd(xmm0, xmm1));
        yield return ("minps", a => a.minps(xmm0, xmm1));
        yield return ("maxpd", a => a.maxpd(xmm0, xmm1));
        yield return ("cmpps/1", a => a.cmpps(xmm0, xmm1, 1));
        yield return ("cmppd/4", a => a.cmppd(xmm0, xmm1, 4));
        yield return ("addss", a => a.addss(xmm0, xmm1));
        yield return ("divsd", a => a.divsd(xmm0, xmm1));
        yield return ("sqrtss", a => a.sqrtss(xmm0, xmm1));
        yield return ("cmpsd/2", a => a.cmpsd(xmm0, xmm1, 2));
        yield return ("comiss", a => a.comiss(xmm0, xmm1));
        yield return ("ucomisd", a => a.ucomisd(xmm0, xmm1));
        yield return ("cvtps2pd", a => a.cvtps2pd(xmm0, xmm1));
        yield return ("cvtpd2ps", a => a.cvtpd2ps(xmm0, xmm1));
        yield return ("cvtdq2ps", a => a.cvtdq2ps(xmm0, xmm1));
        yield return ("cvtdq2pd", a => a.cvtdq2pd(xmm0, xmm1));
        yield return ("cvtps2dq", a => a.cvtps2dq(xmm0, xmm1));
        yield return ("cvttps2dq", a => a.cvttps2dq(xmm0, xmm1));
        yield return ("cvtpd2dq", a => a.cvtpd2dq(xmm0, xmm1));
        yield return ("cvttpd2dq", a => a.cvttpd2dq(xmm0, xmm1));
        yield return ("cvtss2sd", a => a.cvtss2sd(xmm0, xmm1));
        yield return ("cvtsd2ss", a => a.cvtsd2ss(xmm0, xmm1));
        yield return ("cvtsi2ss", a => a.cvtsi2ss(xmm0, eax));
        yield return ("cvtsi2sd", a => a.cvtsi2sd(xmm0, rax));
        yield return ("cvtsd2si", a => a.cvtsd2si(rax, xmm1));
        yield return ("cvttss2si", a => a.cvttss2si(eax, xmm1));
        // MMX-operand conversions; EMMS afterwards leaves the host's x87 unit as the test process expects it.
        yield return ("cvtpi2ps", a => { a.movq(mm1, rax); a.cvtpi2ps(xmm0, mm1); a.emms(); });
        yield return ("cvtpi2pd", a => { a.movq(mm1, rax); a.cvtpi2pd(xmm0, mm1); a.emms(); });
        yield return ("cvtps2pi", a => { a.cvtps2pi(mm2, xmm1); a.movq(rax, mm2); a.emms(); });
        yield return ("cvttpd2pi", a => { a.cvttpd2pi(mm2, xmm1); a.movq(rax, mm2); a.emms(); });
    }

    /// <summary>128-bit operands built from the scalar pairs of both formats, so every lane sees specials and randoms.</summary>
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
                yield return ((p[0].A | p[1].A << 32, p[2].A | p[3].A << 32), (p[0].B | p[1].B << 32, p[2].B | p[3].B << 32));
            }
            else
            {
                var low = doubles[random.Next(doubles.Length)];
                var high = doubles[random.Next(doubles.Length)];
                yield return ((low.A, high.A), (low.B, high.B));
            }
        }
    }

    [Theory]
    [MemberData(nameof(InstructionNames))]
    public void Soft_matches_the_host_on_whole_registers(string name)
    {
        Action<Assembler> body = Instructions().Single(i => i.Name == name).Body;
        using var stub = new HostSseStub(body);
        using var m = new CpuTestMachine();
        m.SetupLongMode();
        m.LoadCode(CpuTestMachine.CodeBase, a => { body(a); a.hlt(); });
        var mismatches = new List<string>();
        int count = 0;
        foreach (var (a, b) in VectorOperands(name.Length * 7 + name[0]))
        {
            foreach (uint mode in new uint[] { 0x1F80, 0x1F80 | 1 << 13, 0x1F80 | 3 << 13 | SseFloat.FlushToZero | SseFloat.DenormalsAreZero, 0x1F80 | 2 << 13 | SseFloat.FlushToZero })
            {
                var host = stub.Run128(a, b, mode);
                m.Cpu.Rip = CpuTestMachine.CodeBase;
                m.Cpu.Rax = b.Item1;
                m.Cpu.Rflags = X86.FlagReserved1;
                m.Cpu.Fpu.Mxcsr = mode;
                m.Cpu.Fpu.Xmm[0] = a.Item1; m.Cpu.Fpu.Xmm[1] = a.Item2;
                m.Cpu.Fpu.Xmm[2] = b.Item1; m.Cpu.Fpu.Xmm[3] = b.Item2;
                m.Cpu.NotifyStateChanged();
                CpuExitReason reason = m.Run();
                count++;
                var soft = ((m.Cpu.Fpu.Xmm[0], m.Cpu.Fpu.Xmm[1]), m.Cpu.Rax, m.Cpu.Rflags & ArithmeticFlags, m.Cpu.Fpu.Mxcsr);
                var expected = (host.Xmm, host.Rax, host.Rflags & ArithmeticFlags, host.Mxcsr);
                if (reason != CpuExitReason.Hlt || soft != expected)
                    mismatches.Add($"{name} a=({a.Item1:X},{a.Item2:X}) b=({b.Item1:X},{b.Item2:X}) mxcsr={mode:X}: host {expected}, soft {reason} {soft}");
            }
        }
        Assert.True(count > 1000, $"only {count} cases");
        Assert.True(mismatches.Count == 0, $"{mismatches.Count} of {count} differ, first ones:\n" + string.Join("\n", mismatches.Take(10)));
    }
}
