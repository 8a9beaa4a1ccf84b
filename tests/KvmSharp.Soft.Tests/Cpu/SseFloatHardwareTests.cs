using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using KvmSharp.Soft.Cpu;

namespace KvmSharp.Soft.Tests.Cpu;

/// <summary>
/// Holds <see cref="SseFloat"/>'s results to the host processor's own: SSE/SSE2 intrinsics for the default MXCSR, and
/// AVX-512 embedded rounding for the three directed rounding modes (same results as SSE with MXCSR.RC set, without
/// touching the host's MXCSR). Inputs are special values (zeros, denormals, limits, infinities, quiet and signalling
/// NaNs with payloads) crossed with each other, plus seeded random operands steered towards cancellation, overflow and
/// underflow. The exact integer path is checked separately from the hardware shortcut, and both must report the same
/// flags.
/// </summary>
public class SseFloatHardwareTests
{
    private const uint DefaultMxcsr = 0x1F80;
    private const int RandomPairs = 6000;

    public enum Operation { Add, Subtract, Multiply, Divide, SquareRoot }

    private static void RequireAvx512()
    {
        Assert.SkipUnless(Avx512F.IsSupported, "the reference for directed rounding needs AVX-512F on the host");
    }

    private static uint Mxcsr(int rc) => DefaultMxcsr | (uint)(rc << SseFloat.RoundingShift);

    // ---------------------------------------------------------------- operands

    private static readonly ulong[] s_specialDoubles =
    [
        0, 0x8000000000000000, 1, 0x8000000000000001, 0x000FFFFFFFFFFFFF, 0x800FFFFFFFFFFFFF, 0x0008000000000000,
        0x0000000000012345, 0x0010000000000000, 0x8010000000000000, 0x0010000000000001, 0x001FFFFFFFFFFFFF,
        0x7FEFFFFFFFFFFFFF, 0xFFEFFFFFFFFFFFFF, 0x7FE0000000000000, 0x3FF0000000000000, 0xBFF0000000000000,
        0x3FF0000000000001, 0x3FEFFFFFFFFFFFFF, 0x4008000000000000, 0x3FB999999999999A, 0x4000000000000000,
        0x3CA0000000000000, 0x7FF0000000000000, 0xFFF0000000000000, 0x7FF8000000000000, 0xFFF8000000000000,
        0x7FF8000000001234, 0xFFFC00000000ABCD, 0x7FF0000000000001, 0xFFF4000000005678, 0x7FF7FFFFFFFFFFFF,
        0x43E0000000000000, 0xC3E0000000000000, 0x41E0000000000000, 0xC1E0000000200000, 0x41DFFFFFFFC00000,
        0x3FE0000000000000, 0xBFF8000000000000, 0x3FF8000000000000, 0x4004000000000000,
    ];

    private static readonly ulong[] s_specialSingles =
    [
        0, 0x80000000, 1, 0x80000001, 0x007FFFFF, 0x807FFFFF, 0x00400000, 0x00012345, 0x00800000, 0x80800000,
        0x00800001, 0x00FFFFFF, 0x7F7FFFFF, 0xFF7FFFFF, 0x7F000000, 0x3F800000, 0xBF800000, 0x3F800001, 0x3F7FFFFF,
        0x40400000, 0x3DCCCCCD, 0x40000000, 0x33800000, 0x7F800000, 0xFF800000, 0x7FC00000, 0xFFC00000, 0x7FC01234,
        0xFFE0ABCD, 0x7F800001, 0xFFA05678, 0x7FBFFFFF, 0x5F000000, 0xDF000000, 0x4F000000, 0xCF000001, 0x4EFFFFFF,
        0x3F000000, 0xBFC00000, 0x3FC00000, 0x40200000,
    ];

    private static ulong[] Specials(bool isDouble) => isDouble ? s_specialDoubles : s_specialSingles;

    private static ulong RandomValue(Random random, bool isDouble, int exponentLow, int exponentHigh)
    {
        int fractionBits = isDouble ? 52 : 23;
        ulong fraction = (ulong)random.NextInt64() & ((1UL << fractionBits) - 1);
        // Short fractions make exact results (and ties) common enough to matter.
        if (random.Next(4) == 0) fraction &= ~((1UL << (fractionBits - random.Next(1, 8))) - 1);
        ulong exponent = (ulong)random.Next(exponentLow, exponentHigh + 1);
        ulong sign = (ulong)random.Next(2) << (isDouble ? 63 : 31);
        return sign | (exponent << fractionBits) | fraction;
    }

    private static ulong ExponentNear(Random random, bool isDouble, int biasedExponent, int maxExponent)
    {
        int exponent = Math.Clamp(biasedExponent, 0, maxExponent);
        return RandomValue(random, isDouble, exponent, exponent);
    }

    /// <summary>Special × special, then random pairs: independent, with nearby exponents, and scaled to the range edges.</summary>
    public static IEnumerable<(ulong A, ulong B)> Pairs(bool isDouble, int seed)
    {
        ulong[] specials = Specials(isDouble);
        foreach (ulong a in specials)
            foreach (ulong b in specials)
                yield return (a, b);
        var random = new Random(seed);
        int maxExponent = isDouble ? 2046 : 254, bias = isDouble ? 1023 : 127;
        for (int i = 0; i < RandomPairs; i++)
        {
            ulong a = RandomValue(random, isDouble, 0, maxExponent);
            int aExponent = (int)((a >> (isDouble ? 52 : 23)) & (ulong)(maxExponent + 1));
            ulong b = (i % 4) switch
            {
                0 => RandomValue(random, isDouble, 0, maxExponent),
                1 => RandomValue(random, isDouble, Math.Max(0, aExponent - 3), Math.Min(maxExponent, aExponent + 3)),
                // Product (or quotient, for the reciprocal exponent) near the underflow or overflow threshold.
                2 => ExponentNear(random, isDouble, bias - aExponent + random.Next(-30, 31), maxExponent),
                _ => ExponentNear(random, isDouble, 3 * bias - aExponent + random.Next(-30, 31), maxExponent),
            };
            yield return random.Next(2) == 0 ? (a, b) : (b, a);
        }
    }

    // ---------------------------------------------------------------- host references

    private static ulong HostDouble(Operation operation, ulong a, ulong b, int rc)
    {
        Vector128<double> x = Vector128.CreateScalar(a).AsDouble(), y = Vector128.CreateScalar(b).AsDouble();
        Vector128<double> r = (operation, rc) switch
        {
            (Operation.Add, 0) => Avx512F.AddScalar(x, y, FloatRoundingMode.ToEven),
            (Operation.Add, 1) => Avx512F.AddScalar(x, y, FloatRoundingMode.ToNegativeInfinity),
            (Operation.Add, 2) => Avx512F.AddScalar(x, y, FloatRoundingMode.ToPositiveInfinity),
            (Operation.Add, _) => Avx512F.AddScalar(x, y, FloatRoundingMode.ToZero),
            (Operation.Subtract, 0) => Avx512F.SubtractScalar(x, y, FloatRoundingMode.ToEven),
            (Operation.Subtract, 1) => Avx512F.SubtractScalar(x, y, FloatRoundingMode.ToNegativeInfinity),
            (Operation.Subtract, 2) => Avx512F.SubtractScalar(x, y, FloatRoundingMode.ToPositiveInfinity),
            (Operation.Subtract, _) => Avx512F.SubtractScalar(x, y, FloatRoundingMode.ToZero),
            (Operation.Multiply, 0) => Avx512F.MultiplyScalar(x, y, FloatRoundingMode.ToEven),
            (Operation.Multiply, 1) => Avx512F.MultiplyScalar(x, y, FloatRoundingMode.ToNegativeInfinity),
            (Operation.Multiply, 2) => Avx512F.MultiplyScalar(x, y, FloatRoundingMode.ToPositiveInfinity),
            (Operation.Multiply, _) => Avx512F.MultiplyScalar(x, y, FloatRoundingMode.ToZero),
            (Operation.Divide, 0) => Avx512F.DivideScalar(x, y, FloatRoundingMode.ToEven),
            (Operation.Divide, 1) => Avx512F.DivideScalar(x, y, FloatRoundingMode.ToNegativeInfinity),
            (Operation.Divide, 2) => Avx512F.DivideScalar(x, y, FloatRoundingMode.ToPositiveInfinity),
            (Operation.Divide, _) => Avx512F.DivideScalar(x, y, FloatRoundingMode.ToZero),
            (_, 0) => Avx512F.SqrtScalar(x, y, FloatRoundingMode.ToEven),
            (_, 1) => Avx512F.SqrtScalar(x, y, FloatRoundingMode.ToNegativeInfinity),
            (_, 2) => Avx512F.SqrtScalar(x, y, FloatRoundingMode.ToPositiveInfinity),
            _ => Avx512F.SqrtScalar(x, y, FloatRoundingMode.ToZero),
        };
        return r.AsUInt64().ToScalar();
    }

    private static ulong HostSingle(Operation operation, ulong a, ulong b, int rc)
    {
        Vector128<float> x = Vector128.CreateScalar((uint)a).AsSingle(), y = Vector128.CreateScalar((uint)b).AsSingle();
        Vector128<float> r = (operation, rc) switch
        {
            (Operation.Add, 0) => Avx512F.AddScalar(x, y, FloatRoundingMode.ToEven),
            (Operation.Add, 1) => Avx512F.AddScalar(x, y, FloatRoundingMode.ToNegativeInfinity),
            (Operation.Add, 2) => Avx512F.AddScalar(x, y, FloatRoundingMode.ToPositiveInfinity),
            (Operation.Add, _) => Avx512F.AddScalar(x, y, FloatRoundingMode.ToZero),
            (Operation.Subtract, 0) => Avx512F.SubtractScalar(x, y, FloatRoundingMode.ToEven),
            (Operation.Subtract, 1) => Avx512F.SubtractScalar(x, y, FloatRoundingMode.ToNegativeInfinity),
            (Operation.Subtract, 2) => Avx512F.SubtractScalar(x, y, FloatRoundingMode.ToPositiveInfinity),
            (Operation.Subtract, _) => Avx512F.SubtractScalar(x, y, FloatRoundingMode.ToZero),
            (Operation.Multiply, 0) => Avx512F.MultiplyScalar(x, y, FloatRoundingMode.ToEven),
            (Operation.Multiply, 1) => Avx512F.MultiplyScalar(x, y, FloatRoundingMode.ToNegativeInfinity),
            (Operation.Multiply, 2) => Avx512F.MultiplyScalar(x, y, FloatRoundingMode.ToPositiveInfinity),
            (Operation.Multiply, _) => Avx512F.MultiplyScalar(x, y, FloatRoundingMode.ToZero),
            (Operation.Divide, 0) => Avx512F.DivideScalar(x, y, FloatRoundingMode.ToEven),
            (Operation.Divide, 1) => Avx512F.DivideScalar(x, y, FloatRoundingMode.ToNegativeInfinity),
            (Operation.Divide, 2) => Avx512F.DivideScalar(x, y, FloatRoundingMode.ToPositiveInfinity),
            (Operation.Divide, _) => Avx512F.DivideScalar(x, y, FloatRoundingMode.ToZero),
            (_, 0) => Avx512F.SqrtScalar(x, y, FloatRoundingMode.ToEven),
            (_, 1) => Avx512F.SqrtScalar(x, y, FloatRoundingMode.ToNegativeInfinity),
            (_, 2) => Avx512F.SqrtScalar(x, y, FloatRoundingMode.ToPositiveInfinity),
            _ => Avx512F.SqrtScalar(x, y, FloatRoundingMode.ToZero),
        };
        return r.AsUInt32().ToScalar();
    }

    private static bool IsNaN(ulong bits, bool isDouble) => isDouble
        ? (bits & 0x7FFFFFFFFFFFFFFF) > 0x7FF0000000000000
        : (bits & 0x7FFFFFFF) > 0x7F800000;

    private static void AssertNoMismatch(List<string> mismatches, int checkedCount)
    {
        Assert.True(checkedCount > 1000, $"only {checkedCount} cases checked");
        Assert.True(mismatches.Count == 0, $"{mismatches.Count} mismatches, first ones:\n" + string.Join("\n", mismatches.Take(12)));
    }

    // ---------------------------------------------------------------- tests

    [Theory]
    [InlineData(Operation.Add, false)] [InlineData(Operation.Add, true)]
    [InlineData(Operation.Subtract, false)] [InlineData(Operation.Subtract, true)]
    [InlineData(Operation.Multiply, false)] [InlineData(Operation.Multiply, true)]
    [InlineData(Operation.Divide, false)] [InlineData(Operation.Divide, true)]
    [InlineData(Operation.SquareRoot, false)] [InlineData(Operation.SquareRoot, true)]
    public void Arithmetic_matches_the_host_in_every_rounding_mode_on_both_paths(Operation operation, bool isDouble)
    {
        RequireAvx512();
        var mismatches = new List<string>();
        int count = 0;
        foreach ((ulong a, ulong b) in Pairs(isDouble, seed: 17 + (int)operation))
        {
            // The JIT may swap the operands of a commutative intrinsic, which only shows when both are NaNs.
            if (operation is Operation.Add or Operation.Multiply && IsNaN(a, isDouble) && IsNaN(b, isDouble)) continue;
            for (int rc = 0; rc < 4; rc++)
            {
                uint mxcsr = Mxcsr(rc);
                ulong expected = isDouble ? HostDouble(operation, a, b, rc) : HostSingle(operation, a, b, rc);
                uint publicFlags = 0, exactFlags = 0;
                ulong viaPublic = Compute(operation, a, b, isDouble, mxcsr, ref publicFlags, exact: false);
                ulong viaExact = Compute(operation, a, b, isDouble, mxcsr, ref exactFlags, exact: true);
                count++;
                if (viaPublic != expected || viaExact != expected || publicFlags != exactFlags)
                    mismatches.Add($"{operation} 0x{a:X} 0x{b:X} rc={rc}: host 0x{expected:X}, public 0x{viaPublic:X} " +
                        $"(flags {publicFlags:X}), exact 0x{viaExact:X} (flags {exactFlags:X})");
            }
        }
        AssertNoMismatch(mismatches, count);
    }

    private static ulong Compute(Operation operation, ulong a, ulong b, bool isDouble, uint mxcsr, ref uint flags, bool exact) => operation switch
    {
        Operation.Add => exact ? SseFloat.AddOrSubtractExact(a, b, false, isDouble, mxcsr, ref flags) : SseFloat.Add(a, b, isDouble, mxcsr, ref flags),
        Operation.Subtract => exact ? SseFloat.AddOrSubtractExact(a, b, true, isDouble, mxcsr, ref flags) : SseFloat.Subtract(a, b, isDouble, mxcsr, ref flags),
        Operation.Multiply => exact ? SseFloat.MultiplyExact(a, b, isDouble, mxcsr, ref flags) : SseFloat.Multiply(a, b, isDouble, mxcsr, ref flags),
        Operation.Divide => exact ? SseFloat.DivideExact(a, b, isDouble, mxcsr, ref flags) : SseFloat.Divide(a, b, isDouble, mxcsr, ref flags),
        _ => exact ? SseFloat.SquareRootExact(b, isDouble, mxcsr, ref flags) : SseFloat.SquareRoot(b, isDouble, mxcsr, ref flags),
    };

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Min_max_and_compare_predicates_match_the_host(bool isDouble)
    {
        Assert.SkipUnless(Avx.IsSupported, "the compare-predicate reference needs AVX on the host");
        var mismatches = new List<string>();
        int count = 0;
        foreach ((ulong a, ulong b) in Pairs(isDouble, seed: 5))
        {
            uint flags = 0;
            ulong min = SseFloat.Minimum(a, b, isDouble, DefaultMxcsr, ref flags);
            ulong max = SseFloat.Maximum(a, b, isDouble, DefaultMxcsr, ref flags);
            ulong hostMin, hostMax;
            if (isDouble)
            {
                Vector128<double> x = Vector128.CreateScalar(a).AsDouble(), y = Vector128.CreateScalar(b).AsDouble();
                hostMin = Sse2.MinScalar(x, y).AsUInt64().ToScalar();
                hostMax = Sse2.MaxScalar(x, y).AsUInt64().ToScalar();
            }
            else
            {
                Vector128<float> x = Vector128.CreateScalar((uint)a).AsSingle(), y = Vector128.CreateScalar((uint)b).AsSingle();
                hostMin = Sse.MinScalar(x, y).AsUInt32().ToScalar();
                hostMax = Sse.MaxScalar(x, y).AsUInt32().ToScalar();
            }
            count++;
            if (min != hostMin || max != hostMax)
                mismatches.Add($"min/max 0x{a:X} 0x{b:X}: host 0x{hostMin:X}/0x{hostMax:X}, ours 0x{min:X}/0x{max:X}");
            for (int predicate = 0; predicate < 8; predicate++)
            {
                bool ours = SseFloat.ComparePredicate(a, b, isDouble, predicate, DefaultMxcsr, ref flags);
                bool host = HostCompare(a, b, isDouble, predicate);
                if (ours != host) mismatches.Add($"cmp{predicate} 0x{a:X} 0x{b:X}: host {host}, ours {ours}");
            }
        }
        AssertNoMismatch(mismatches, count);
    }

    private static bool HostCompare(ulong a, ulong b, bool isDouble, int predicate)
    {
        if (isDouble)
        {
            Vector128<double> x = Vector128.CreateScalar(a).AsDouble(), y = Vector128.CreateScalar(b).AsDouble();
            Vector128<double> r = predicate switch
            {
                0 => Avx.CompareScalar(x, y, FloatComparisonMode.OrderedEqualNonSignaling),
                1 => Avx.CompareScalar(x, y, FloatComparisonMode.OrderedLessThanSignaling),
                2 => Avx.CompareScalar(x, y, FloatComparisonMode.OrderedLessThanOrEqualSignaling),
                3 => Avx.CompareScalar(x, y, FloatComparisonMode.UnorderedNonSignaling),
                4 => Avx.CompareScalar(x, y, FloatComparisonMode.UnorderedNotEqualNonSignaling),
                5 => Avx.CompareScalar(x, y, FloatComparisonMode.UnorderedNotLessThanSignaling),
                6 => Avx.CompareScalar(x, y, FloatComparisonMode.UnorderedNotLessThanOrEqualSignaling),
                _ => Avx.CompareScalar(x, y, FloatComparisonMode.OrderedNonSignaling),
            };
            return r.AsUInt64().ToScalar() != 0;
        }
        else
        {
            Vector128<float> x = Vector128.CreateScalar((uint)a).AsSingle(), y = Vector128.CreateScalar((uint)b).AsSingle();
            Vector128<float> r = predicate switch
            {
                0 => Avx.CompareScalar(x, y, FloatComparisonMode.OrderedEqualNonSignaling),
                1 => Avx.CompareScalar(x, y, FloatComparisonMode.OrderedLessThanSignaling),
                2 => Avx.CompareScalar(x, y, FloatComparisonMode.OrderedLessThanOrEqualSignaling),
                3 => Avx.CompareScalar(x, y, FloatComparisonMode.UnorderedNonSignaling),
                4 => Avx.CompareScalar(x, y, FloatComparisonMode.UnorderedNotEqualNonSignaling),
                5 => Avx.CompareScalar(x, y, FloatComparisonMode.UnorderedNotLessThanSignaling),
                6 => Avx.CompareScalar(x, y, FloatComparisonMode.UnorderedNotLessThanOrEqualSignaling),
                _ => Avx.CompareScalar(x, y, FloatComparisonMode.OrderedNonSignaling),
            };
            return r.AsUInt32().ToScalar() != 0;
        }
    }

    [Fact]
    public void Float_to_float_conversions_match_the_host_in_every_rounding_mode()
    {
        RequireAvx512();
        var mismatches = new List<string>();
        int count = 0;
        foreach ((ulong a, _) in Pairs(isDouble: true, seed: 9))
        {
            for (int rc = 0; rc < 4; rc++)
            {
                uint flags = 0;
                ulong ours = SseFloat.ConvertFloat(a, toDouble: false, Mxcsr(rc), ref flags);
                Vector128<double> x = Vector128.CreateScalar(a).AsDouble();
                Vector128<float> upper = Vector128<float>.Zero;
                ulong host = (rc switch
                {
                    0 => Avx512F.ConvertScalarToVector128Single(upper, x, FloatRoundingMode.ToEven),
                    1 => Avx512F.ConvertScalarToVector128Single(upper, x, FloatRoundingMode.ToNegativeInfinity),
                    2 => Avx512F.ConvertScalarToVector128Single(upper, x, FloatRoundingMode.ToPositiveInfinity),
                    _ => Avx512F.ConvertScalarToVector128Single(upper, x, FloatRoundingMode.ToZero),
                }).AsUInt32().ToScalar();
                count++;
                if (ours != host) mismatches.Add($"cvtsd2ss 0x{a:X} rc={rc}: host 0x{host:X}, ours 0x{ours:X}");
            }
        }
        foreach ((ulong a, _) in Pairs(isDouble: false, seed: 10))
        {
            uint flags = 0;
            ulong ours = SseFloat.ConvertFloat(a, toDouble: true, DefaultMxcsr, ref flags);
            ulong host = Sse2.ConvertScalarToVector128Double(Vector128<double>.Zero, Vector128.CreateScalar((uint)a).AsSingle()).AsUInt64().ToScalar();
            count++;
            if (ours != host) mismatches.Add($"cvtss2sd 0x{a:X}: host 0x{host:X}, ours 0x{ours:X}");
        }
        AssertNoMismatch(mismatches, count);
    }

    [Fact]
    public void Integer_to_float_conversions_match_the_host_in_every_rounding_mode()
    {
        RequireAvx512();
        var random = new Random(3);
        var mismatches = new List<string>();
        int count = 0;
        var values = new List<long> { 0, 1, -1, long.MaxValue, long.MinValue, int.MaxValue, int.MinValue, 16777217, -16777217,
            (1L << 53) + 1, -(1L << 53) - 1, (1L << 62) + 513, 0x7FFFFFFFFFFFFC00, 0x7FFFFFFFFFFFFE00 };
        for (int i = 0; i < 4000; i++) values.Add(random.NextInt64() >> random.Next(64));
        foreach (long value in values)
        {
            for (int rc = 0; rc < 4; rc++)
            {
                uint flags = 0;
                ulong toSingle = SseFloat.FromInteger(value, toDouble: false, Mxcsr(rc), ref flags);
                ulong toDouble = SseFloat.FromInteger(value, toDouble: true, Mxcsr(rc), ref flags);
                Vector128<float> s = Vector128<float>.Zero;
                Vector128<double> d = Vector128<double>.Zero;
                ulong hostSingle = (rc switch
                {
                    0 => Avx512F.X64.ConvertScalarToVector128Single(s, value, FloatRoundingMode.ToEven),
                    1 => Avx512F.X64.ConvertScalarToVector128Single(s, value, FloatRoundingMode.ToNegativeInfinity),
                    2 => Avx512F.X64.ConvertScalarToVector128Single(s, value, FloatRoundingMode.ToPositiveInfinity),
                    _ => Avx512F.X64.ConvertScalarToVector128Single(s, value, FloatRoundingMode.ToZero),
                }).AsUInt32().ToScalar();
                ulong hostDouble = (rc switch
                {
                    0 => Avx512F.X64.ConvertScalarToVector128Double(d, value, FloatRoundingMode.ToEven),
                    1 => Avx512F.X64.ConvertScalarToVector128Double(d, value, FloatRoundingMode.ToNegativeInfinity),
                    2 => Avx512F.X64.ConvertScalarToVector128Double(d, value, FloatRoundingMode.ToPositiveInfinity),
                    _ => Avx512F.X64.ConvertScalarToVector128Double(d, value, FloatRoundingMode.ToZero),
                }).AsUInt64().ToScalar();
                count++;
                if (toSingle != hostSingle || toDouble != hostDouble)
                    mismatches.Add($"cvtsi2ss/sd {value} rc={rc}: host 0x{hostSingle:X}/0x{hostDouble:X}, ours 0x{toSingle:X}/0x{toDouble:X}");
            }
        }
        AssertNoMismatch(mismatches, count);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Float_to_integer_conversions_match_the_host_in_every_rounding_mode(bool isDouble)
    {
        RequireAvx512();
        var mismatches = new List<string>();
        var random = new Random(11);
        var inputs = new List<ulong>();
        foreach ((ulong a, _) in Pairs(isDouble, seed: 12)) inputs.Add(a);
        // Values around the integer ranges and halfway points.
        int bias = isDouble ? 1023 : 127;
        for (int i = 0; i < 4000; i++) inputs.Add(RandomValue(random, isDouble, bias - 2, bias + 64));
        int count = 0;
        foreach (ulong a in inputs)
        {
            for (int rc = 0; rc < 4; rc++)
            {
                uint flags = 0;
                ulong ours32 = SseFloat.ToInteger(a, isDouble, to64: false, truncate: false, Mxcsr(rc), ref flags);
                ulong ours64 = SseFloat.ToInteger(a, isDouble, to64: true, truncate: false, Mxcsr(rc), ref flags);
                (int host32, long host64) = HostToInteger(a, isDouble, rc);
                count++;
                if (ours32 != (uint)host32 || ours64 != (ulong)host64)
                    mismatches.Add($"cvt2si 0x{a:X} rc={rc}: host 0x{(uint)host32:X}/0x{host64:X}, ours 0x{ours32:X}/0x{ours64:X}");
            }
            uint truncFlags = 0;
            ulong trunc32 = SseFloat.ToInteger(a, isDouble, to64: false, truncate: true, Mxcsr(2), ref truncFlags);
            ulong trunc64 = SseFloat.ToInteger(a, isDouble, to64: true, truncate: true, Mxcsr(1), ref truncFlags);
            int hostTrunc32;
            long hostTrunc64;
            if (isDouble)
            {
                Vector128<double> x = Vector128.CreateScalar(a).AsDouble();
                hostTrunc32 = Sse2.ConvertToInt32WithTruncation(x);
                hostTrunc64 = Sse2.X64.ConvertToInt64WithTruncation(x);
            }
            else
            {
                Vector128<float> x = Vector128.CreateScalar((uint)a).AsSingle();
                hostTrunc32 = Sse.ConvertToInt32WithTruncation(x);
                hostTrunc64 = Sse.X64.ConvertToInt64WithTruncation(x);
            }
            if (trunc32 != (uint)hostTrunc32 || trunc64 != (ulong)hostTrunc64)
                mismatches.Add($"cvtt2si 0x{a:X}: host 0x{(uint)hostTrunc32:X}/0x{hostTrunc64:X}, ours 0x{trunc32:X}/0x{trunc64:X}");
        }
        AssertNoMismatch(mismatches, count);
    }

    private static (int, long) HostToInteger(ulong a, bool isDouble, int rc)
    {
        if (isDouble)
        {
            Vector128<double> x = Vector128.CreateScalar(a).AsDouble();
            return rc switch
            {
                0 => (Avx512F.ConvertToInt32(x, FloatRoundingMode.ToEven), Avx512F.X64.ConvertToInt64(x, FloatRoundingMode.ToEven)),
                1 => (Avx512F.ConvertToInt32(x, FloatRoundingMode.ToNegativeInfinity), Avx512F.X64.ConvertToInt64(x, FloatRoundingMode.ToNegativeInfinity)),
                2 => (Avx512F.ConvertToInt32(x, FloatRoundingMode.ToPositiveInfinity), Avx512F.X64.ConvertToInt64(x, FloatRoundingMode.ToPositiveInfinity)),
                _ => (Avx512F.ConvertToInt32(x, FloatRoundingMode.ToZero), Avx512F.X64.ConvertToInt64(x, FloatRoundingMode.ToZero)),
            };
        }
        Vector128<float> y = Vector128.CreateScalar((uint)a).AsSingle();
        return rc switch
        {
            0 => (Avx512F.ConvertToInt32(y, FloatRoundingMode.ToEven), Avx512F.X64.ConvertToInt64(y, FloatRoundingMode.ToEven)),
            1 => (Avx512F.ConvertToInt32(y, FloatRoundingMode.ToNegativeInfinity), Avx512F.X64.ConvertToInt64(y, FloatRoundingMode.ToNegativeInfinity)),
            2 => (Avx512F.ConvertToInt32(y, FloatRoundingMode.ToPositiveInfinity), Avx512F.X64.ConvertToInt64(y, FloatRoundingMode.ToPositiveInfinity)),
            _ => (Avx512F.ConvertToInt32(y, FloatRoundingMode.ToZero), Avx512F.X64.ConvertToInt64(y, FloatRoundingMode.ToZero)),
        };
    }
}
