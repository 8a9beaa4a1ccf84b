using Iced.Intel;
using KvmSharp.Soft.Cpu;
using static Iced.Intel.AssemblerRegisters;

namespace KvmSharp.Soft.Tests.Cpu;

/// <summary>
/// Holds <see cref="SseFloat"/> to the host processor (the AMD EPYC that the differential fuzzer also compares with)
/// instruction by instruction, result bits AND the MXCSR flags, in all four rounding modes with DAZ and FTZ off and on,
/// every exception masked. The operands are <see cref="SseFloatHardwareTests.Pairs"/>: special values crossed, plus
/// random ones steered to cancellation, overflow and underflow.
/// </summary>
public class SseFloatHostFlagsTests
{
    public delegate ulong Ours(ulong a, ulong b, uint mxcsr, ref uint flags);

    public sealed record Case(string Name, bool IsDouble, Action<Assembler> Body, Ours Compute, Func<(ulong Xmm, ulong Rax, ulong Rflags, uint Mxcsr), ulong> HostResult)
    {
        public override string ToString() => Name;
    }

    private static ulong Low(bool isDouble, ulong xmm) => isDouble ? xmm : xmm & 0xFFFFFFFF;

    private static Case Arithmetic(string name, bool isDouble, Action<Assembler> body, Ours compute) =>
        new(name, isDouble, body, compute, host => Low(isDouble, host.Xmm));

    private const ulong ArithmeticFlags = 0x8D5; // OF SF ZF AF PF CF

    public static readonly TheoryData<string> CaseNames = new(Cases().Select(c => c.Name));

    private static IEnumerable<Case> Cases()
    {
        foreach (bool d in new[] { false, true })
        {
            string s = d ? "sd" : "ss";
            yield return Arithmetic("add" + s, d, a => { if (d) a.addsd(xmm0, xmm1); else a.addss(xmm0, xmm1); },
                (ulong x, ulong y, uint m, ref uint f) => SseFloat.Add(x, y, d, m, ref f));
            yield return Arithmetic("sub" + s, d, a => { if (d) a.subsd(xmm0, xmm1); else a.subss(xmm0, xmm1); },
                (ulong x, ulong y, uint m, ref uint f) => SseFloat.Subtract(x, y, d, m, ref f));
            yield return Arithmetic("mul" + s, d, a => { if (d) a.mulsd(xmm0, xmm1); else a.mulss(xmm0, xmm1); },
                (ulong x, ulong y, uint m, ref uint f) => SseFloat.Multiply(x, y, d, m, ref f));
            yield return Arithmetic("div" + s, d, a => { if (d) a.divsd(xmm0, xmm1); else a.divss(xmm0, xmm1); },
                (ulong x, ulong y, uint m, ref uint f) => SseFloat.Divide(x, y, d, m, ref f));
            yield return Arithmetic("sqrt" + s, d, a => { if (d) a.sqrtsd(xmm0, xmm1); else a.sqrtss(xmm0, xmm1); },
                (ulong x, ulong y, uint m, ref uint f) => SseFloat.SquareRoot(y, d, m, ref f));
            yield return Arithmetic("min" + s, d, a => { if (d) a.minsd(xmm0, xmm1); else a.minss(xmm0, xmm1); },
                (ulong x, ulong y, uint m, ref uint f) => SseFloat.Minimum(x, y, d, m, ref f));
            yield return Arithmetic("max" + s, d, a => { if (d) a.maxsd(xmm0, xmm1); else a.maxss(xmm0, xmm1); },
                (ulong x, ulong y, uint m, ref uint f) => SseFloat.Maximum(x, y, d, m, ref f));
            for (int predicate = 0; predicate < 8; predicate++)
            {
                int p = predicate;
                yield return Arithmetic($"cmp{s}/{p}", d, a => { if (d) a.cmpsd(xmm0, xmm1, (sbyte)p); else a.cmpss(xmm0, xmm1, (sbyte)p); },
                    (ulong x, ulong y, uint m, ref uint f) => SseFloat.ComparePredicate(x, y, d, p, m, ref f) ? (d ? ulong.MaxValue : uint.MaxValue) : 0);
            }
            foreach (bool signalling in new[] { false, true })
            {
                bool q = signalling;
                yield return new((q ? "comi" : "ucomi") + s, d,
                    a => { if (d) { if (q) a.comisd(xmm0, xmm1); else a.ucomisd(xmm0, xmm1); } else { if (q) a.comiss(xmm0, xmm1); else a.ucomiss(xmm0, xmm1); } },
                    (ulong x, ulong y, uint m, ref uint f) => SseFloat.Compare(x, y, d, m, q, ref f) switch
                    {
                        SseFloat.Ordering.Unordered => X86.FlagZero | X86.FlagParity | X86.FlagCarry,
                        SseFloat.Ordering.Less => X86.FlagCarry,
                        SseFloat.Ordering.Equal => X86.FlagZero,
                        _ => 0,
                    },
                    host => host.Rflags & ArithmeticFlags);
            }
            // Conversions read B (xmm1 or rax).
            yield return Arithmetic(d ? "cvtsd2ss" : "cvtss2sd", !d, a => { if (d) a.cvtsd2ss(xmm0, xmm1); else a.cvtss2sd(xmm0, xmm1); },
                (ulong x, ulong y, uint m, ref uint f) => SseFloat.ConvertFloat(y, toDouble: !d, m, ref f));
            yield return Arithmetic("cvtsi2" + s + "/64", d, a => { if (d) a.cvtsi2sd(xmm0, rax); else a.cvtsi2ss(xmm0, rax); },
                (ulong x, ulong y, uint m, ref uint f) => SseFloat.FromInteger((long)y, d, m, ref f));
            yield return Arithmetic("cvtsi2" + s + "/32", d, a => { if (d) a.cvtsi2sd(xmm0, eax); else a.cvtsi2ss(xmm0, eax); },
                (ulong x, ulong y, uint m, ref uint f) => SseFloat.FromInteger((int)y, d, m, ref f));
            foreach (bool truncate in new[] { false, true })
            {
                foreach (bool to64 in new[] { false, true })
                {
                    bool t = truncate, w = to64;
                    string name = (t ? "cvtt" : "cvt") + s + "2si/" + (w ? "64" : "32");
                    yield return new(name, d, a =>
                    {
                        AssemblerRegister64 r64 = rax;
                        AssemblerRegister32 r32 = eax;
                        if (d && t) { if (w) a.cvttsd2si(r64, xmm1); else a.cvttsd2si(r32, xmm1); }
                        else if (d) { if (w) a.cvtsd2si(r64, xmm1); else a.cvtsd2si(r32, xmm1); }
                        else if (t) { if (w) a.cvttss2si(r64, xmm1); else a.cvttss2si(r32, xmm1); }
                        else { if (w) a.cvtss2si(r64, xmm1); else a.cvtss2si(r32, xmm1); }
                    },
                    (ulong x, ulong y, uint m, ref uint f) => SseFloat.ToInteger(y, d, w, t, m, ref f),
                    host => host.Rax);
                }
            }
        }
    }

    [Theory]
    [MemberData(nameof(CaseNames))]
    public void Results_and_flags_match_the_host_processor(string name)
    {
        Case c = Cases().Single(x => x.Name == name);
        using var stub = new HostSseStub(c.Body);
        var mismatches = new List<string>();
        int count = 0;
        // Conversions from float read B in the source format; pair generation in that format covers their specials.
        bool operandsDouble = c.Name == "cvtsd2ss" ? true : c.Name == "cvtss2sd" ? false : c.IsDouble;
        foreach ((ulong a, ulong b) in SseFloatHardwareTests.Pairs(operandsDouble, seed: name.Length * 31 + name[^1]))
        {
            foreach (uint mode in new uint[] { 0, SseFloat.DenormalsAreZero, SseFloat.FlushToZero, SseFloat.DenormalsAreZero | SseFloat.FlushToZero })
            {
                for (int rc = 0; rc < 4; rc++)
                {
                    uint mxcsr = 0x1F80 | mode | (uint)(rc << SseFloat.RoundingShift);
                    var host = stub.Run(a, b, mxcsr);
                    uint flags = 0;
                    ulong ours = c.Compute(a, b, mxcsr, ref flags);
                    ulong expected = c.HostResult(host);
                    uint hostFlags = host.Mxcsr & 0x3F;
                    count++;
                    if (ours != expected || flags != hostFlags)
                        mismatches.Add($"{name} a=0x{a:X} b=0x{b:X} mxcsr=0x{mxcsr:X}: host 0x{expected:X} flags {hostFlags:X2}, ours 0x{ours:X} flags {flags:X2}");
                }
            }
        }
        Assert.True(count > 1000, $"only {count} cases");
        Assert.True(mismatches.Count == 0, $"{mismatches.Count} of {count} differ, first ones:\n" + string.Join("\n", mismatches.Take(15)));
    }
}
