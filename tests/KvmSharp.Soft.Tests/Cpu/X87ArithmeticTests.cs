using KvmSharp.Soft.Cpu;

namespace KvmSharp.Soft.Tests.Cpu;

/// <summary>
/// The 80-bit arithmetic against hand-computed vectors (SDM rules) and, at 53-bit precision, against .NET's IEEE
/// binary64 arithmetic on the same inputs.
/// </summary>
public class X87ArithmeticTests
{
    private const ushort Pc24 = 0x000, Pc53 = 0x200, Pc64 = 0x300;
    private const ushort RcNearest = 0x000, RcDown = 0x400, RcUp = 0x800, RcZero = 0xC00;
    private const ushort AllMasked = 0x3F;

    private static X87Context Context(ushort fcw) => new((ushort)(fcw | 0x40), usePrecisionControl: true);

    private static Extended80 D(double value) => Extended80.FromBinary64(BitConverter.DoubleToUInt64Bits(value), out _);

    private static readonly Extended80 One = Extended80.One, Three = D(3);

    [Fact]
    public void OneThird_AtEachPrecisionAndRounding()
    {
        X87Context c = Context(AllMasked | Pc64 | RcNearest);
        Extended80 third = X87Arithmetic.Divide(One, Three, ref c);
        Assert.Equal(new Extended80(0xAAAAAAAAAAAAAAABUL, 0x3FFD), third);
        Assert.Equal(X87Exceptions.Precision, c.Flags);
        Assert.True(c.RoundedUp);

        c = Context(AllMasked | Pc24 | RcNearest);
        Assert.Equal(new Extended80(0xAAAAAB0000000000UL, 0x3FFD), X87Arithmetic.Divide(One, Three, ref c));
        Assert.True(c.RoundedUp);

        c = Context(AllMasked | Pc64 | RcDown);
        Assert.Equal(new Extended80(0xAAAAAAAAAAAAAAAAUL, 0x3FFD), X87Arithmetic.Divide(One, Three, ref c));
        Assert.False(c.RoundedUp);
        Assert.Equal(X87Exceptions.Precision, c.Flags);

        c = Context(AllMasked | Pc53 | RcNearest);
        Assert.Equal(D(1.0 / 3.0), X87Arithmetic.Divide(One, Three, ref c));
    }

    [Fact]
    public void ExactResults_RaiseNothing()
    {
        X87Context c = Context(AllMasked | Pc64);
        Assert.Equal(D(4), X87Arithmetic.Add(One, Three, ref c));
        Assert.Equal(D(-2), X87Arithmetic.Subtract(One, Three, ref c));
        Assert.Equal(D(9), X87Arithmetic.Multiply(Three, Three, ref c));
        Assert.Equal(D(1.5), X87Arithmetic.Divide(Three, D(2), ref c));
        Assert.Equal(D(3), X87Arithmetic.SquareRoot(D(9), ref c));
        Assert.Equal(0, c.Flags);
        Assert.False(c.RoundedUp);
    }

    [Fact]
    public void ZeroResults_TakeTheSignTheStandardGives()
    {
        X87Context c = Context(AllMasked | Pc64 | RcNearest);
        Assert.Equal(Extended80.Zero(false), X87Arithmetic.Subtract(Three, Three, ref c));
        c = Context(AllMasked | Pc64 | RcDown);
        Assert.Equal(Extended80.Zero(true), X87Arithmetic.Subtract(Three, Three, ref c));
        Assert.Equal(Extended80.Zero(true), X87Arithmetic.Multiply(Extended80.Zero(false), D(-2), ref c));
        Assert.Equal(Extended80.Zero(true), X87Arithmetic.SquareRoot(Extended80.Zero(true), ref c));
    }

    [Fact]
    public void InvalidOperations_DeliverTheRealIndefinite()
    {
        Extended80 inf = Extended80.Infinity(false);
        X87Context c = Context(AllMasked);
        Assert.Equal(Extended80.Indefinite, X87Arithmetic.Subtract(inf, inf, ref c));
        Assert.Equal(X87Exceptions.Invalid, c.Flags);
        Assert.Equal(0xFFFF, Extended80.Indefinite.SignExponent);
        Assert.Equal(0xC000000000000000UL, Extended80.Indefinite.Significand);

        c = Context(AllMasked);
        Assert.Equal(Extended80.Indefinite, X87Arithmetic.Multiply(Extended80.Zero(false), inf, ref c));
        Assert.Equal(Extended80.Indefinite, X87Arithmetic.Divide(Extended80.Zero(true), Extended80.Zero(false), ref c));
        Assert.Equal(Extended80.Indefinite, X87Arithmetic.SquareRoot(D(-1), ref c));
        Assert.Equal(X87Exceptions.Invalid, c.Flags);

        c = Context(AllMasked);
        Assert.Equal(Extended80.Infinity(true), X87Arithmetic.Divide(D(-1), Extended80.Zero(false), ref c));
        Assert.Equal(X87Exceptions.ZeroDivide, c.Flags);

        // An unnormal (integer bit clear, exponent nonzero) is an unsupported encoding.
        c = Context(AllMasked);
        Assert.Equal(Extended80.Indefinite, X87Arithmetic.Add(new Extended80(0x4000000000000000UL, 0x3FFF), One, ref c));
        Assert.Equal(X87Exceptions.Invalid, c.Flags);
    }

    [Fact]
    public void NaNs_FollowTheX87Rule()
    {
        var smallQuiet = new Extended80(0xC000000000000001UL, 0x7FFF);
        var largeQuiet = new Extended80(0xC000000000000002UL, 0xFFFF);
        var signaling = new Extended80(0x8000000000000005UL, 0x7FFF);
        X87Context c = Context(AllMasked);
        Assert.Equal(largeQuiet, X87Arithmetic.Add(smallQuiet, largeQuiet, ref c));
        Assert.Equal(largeQuiet, X87Arithmetic.Multiply(largeQuiet, smallQuiet, ref c));
        Assert.Equal(0, c.Flags);
        // A QNaN beats an SNaN even with a smaller significand; the SNaN still raises IE.
        Assert.Equal(smallQuiet, X87Arithmetic.Add(signaling, smallQuiet, ref c));
        Assert.Equal(X87Exceptions.Invalid, c.Flags);
        c = Context(AllMasked);
        Assert.Equal(new Extended80(0xC000000000000005UL, 0x7FFF), X87Arithmetic.Add(One, signaling, ref c));
        Assert.Equal(X87Exceptions.Invalid, c.Flags);
        // Equal significands: the positive one.
        c = Context(AllMasked);
        Assert.Equal(smallQuiet, X87Arithmetic.Add(smallQuiet.Negate(), smallQuiet, ref c));
    }

    [Fact]
    public void Overflow_MaskedByRoundingModeAndUnmaskedBiased()
    {
        var max = new Extended80(ulong.MaxValue, 0x7FFE);
        X87Context c = Context(AllMasked | Pc64 | RcNearest);
        Assert.Equal(Extended80.Infinity(false), X87Arithmetic.Multiply(max, D(2), ref c));
        Assert.Equal(X87Exceptions.Overflow | X87Exceptions.Precision, c.Flags);
        Assert.True(c.RoundedUp);

        c = Context(AllMasked | Pc64 | RcZero);
        Assert.Equal(max, X87Arithmetic.Multiply(max, D(2), ref c));
        Assert.False(c.RoundedUp);
        c = Context(AllMasked | Pc64 | RcDown);
        Assert.Equal(Extended80.Infinity(true), X87Arithmetic.Multiply(max, D(-2), ref c));
        Assert.Equal(max, X87Arithmetic.Multiply(max, D(2), ref c));
        // The largest finite value at 24-bit precision keeps only 24 significand bits.
        c = Context(AllMasked | Pc24 | RcZero);
        Assert.Equal(new Extended80(0xFFFFFF0000000000UL, 0x7FFE), X87Arithmetic.Multiply(max, D(2), ref c));

        // Unmasked: the exact result with its exponent reduced by 24576 (0x6000).
        c = Context((ushort)((AllMasked & ~X87Exceptions.Overflow) | Pc64));
        Assert.Equal(new Extended80(ulong.MaxValue, 0x7FFF - 0x6000), X87Arithmetic.Multiply(max, D(2), ref c));
        Assert.Equal(X87Exceptions.Overflow, c.Flags);
    }

    [Fact]
    public void Underflow_DenormalizesWhenMaskedAndReportsOnlyInexactTinyResults()
    {
        var minNormal = new Extended80(0x8000000000000000UL, 0x0001);
        X87Context c = Context(AllMasked | Pc64);
        Assert.Equal(new Extended80(0x4000000000000000UL, 0), X87Arithmetic.Divide(minNormal, D(2), ref c));
        Assert.Equal(0, c.Flags); // tiny but exact

        c = Context(AllMasked | Pc64 | RcNearest);
        // 2^-16382 / 3 = 0.0101...b × 2^-16382: 0x2AAA...AA|AA... rounds to ...AB.
        Assert.Equal(new Extended80(0x2AAAAAAAAAAAAAABUL, 0), X87Arithmetic.Divide(minNormal, Three, ref c));
        Assert.Equal(X87Exceptions.Underflow | X87Exceptions.Precision, c.Flags);
        Assert.True(c.RoundedUp);

        // Unmasked: rounded at full precision, exponent raised by 24576; UE even if exact.
        c = Context((ushort)((AllMasked & ~X87Exceptions.Underflow) | Pc64));
        Assert.Equal(new Extended80(0x8000000000000000UL, 0x6000), X87Arithmetic.Divide(minNormal, D(2), ref c));
        Assert.Equal(X87Exceptions.Underflow, c.Flags);

        // Denormal operands raise DE.
        c = Context(AllMasked | Pc64);
        Assert.Equal(minNormal, X87Arithmetic.Multiply(new Extended80(0x4000000000000000UL, 0), D(2), ref c));
        Assert.Equal(X87Exceptions.Denormal, c.Flags);
    }

    [Fact]
    public void Precision53_MatchesBinary64ForRandomOperands()
    {
        var random = new Random(87);
        for (int i = 0; i < 20000; i++)
        {
            double a = RandomDouble(random), b = RandomDouble(random);
            Check(a + b, X87Arithmetic.Add, a, b);
            Check(a - b, X87Arithmetic.Subtract, a, b);
            Check(a * b, X87Arithmetic.Multiply, a, b);
            Check(a / b, X87Arithmetic.Divide, a, b);
            X87Context c = Context(AllMasked | Pc53);
            double root = Math.Sqrt(Math.Abs(a));
            Assert.Equal(D(root), X87Arithmetic.SquareRoot(D(Math.Abs(a)), ref c));
            Assert.Equal(Math.FusedMultiplyAdd(root, root, -Math.Abs(a)) != 0, (c.Flags & X87Exceptions.Precision) != 0);
        }

        static void Check(double expected, Operation operation, double a, double b)
        {
            X87Context c = Context(AllMasked | Pc53);
            Extended80 result = operation(D(a), D(b), ref c);
            Assert.True(D(expected) == result, $"{a:R} {b:R}: expected {D(expected)} got {result}");
        }
    }

    [Fact]
    public void DirectedRounding_AgreesWithTheExactResidual()
    {
        // For a product p = round(a*b), FMA gives the exact residual a*b - p; its sign says which way each mode goes.
        var random = new Random(3);
        for (int i = 0; i < 20000; i++)
        {
            double a = RandomDouble(random), b = RandomDouble(random);
            double nearest = a * b;
            double residual = Math.FusedMultiplyAdd(a, b, -nearest);
            double down = residual < 0 ? Math.BitDecrement(nearest) : nearest;
            double up = residual > 0 ? Math.BitIncrement(nearest) : nearest;
            double towardZero = Math.Abs(down) < Math.Abs(up) ? down : up;
            X87Context c = Context(AllMasked | Pc53 | RcDown);
            Assert.Equal(D(down), X87Arithmetic.Multiply(D(a), D(b), ref c));
            c = Context(AllMasked | Pc53 | RcUp);
            Assert.Equal(D(up), X87Arithmetic.Multiply(D(a), D(b), ref c));
            Assert.Equal(residual != 0 && up > 0, c.RoundedUp);
            c = Context(AllMasked | Pc53 | RcZero);
            Assert.Equal(D(towardZero), X87Arithmetic.Multiply(D(a), D(b), ref c));
            Assert.Equal(residual != 0, (c.Flags & X87Exceptions.Precision) != 0);
        }
    }

    private delegate Extended80 Operation(Extended80 a, Extended80 b, ref X87Context context);

    private static double RandomDouble(Random random)
    {
        double magnitude = Math.ScaleB(1 + random.NextDouble(), random.Next(-60, 60));
        return random.Next(2) == 0 ? magnitude : -magnitude;
    }

    [Fact]
    public void StoresToBinary32And64_RoundPerRc()
    {
        X87Context c = Context(AllMasked | Pc64);
        Extended80 third = X87Arithmetic.Divide(One, Three, ref c);
        c = Context(AllMasked | Pc24 | RcNearest);
        Assert.Equal(BitConverter.DoubleToUInt64Bits(1.0 / 3.0), X87Arithmetic.ToBinary64(third, ref c));
        Assert.Equal(BitConverter.SingleToUInt32Bits(1.0f / 3.0f), X87Arithmetic.ToBinary32(third, ref c));
        Assert.Equal(X87Exceptions.Precision, c.Flags);
        c = Context(AllMasked | RcDown);
        Assert.Equal(0x3EAAAAAAu, X87Arithmetic.ToBinary32(third, ref c));
        Assert.False(c.RoundedUp);

        // Too large for binary32: masked overflow gives infinity; too small: a denormal or zero with UE and PE.
        c = Context(AllMasked);
        Assert.Equal(0x7F800000u, X87Arithmetic.ToBinary32(D(1e39), ref c));
        Assert.Equal(X87Exceptions.Overflow | X87Exceptions.Precision, c.Flags);
        c = Context(AllMasked);
        Assert.Equal(BitConverter.SingleToUInt32Bits((float)1e-40), X87Arithmetic.ToBinary32(D(1e-40), ref c));
        Assert.Equal(X87Exceptions.Underflow | X87Exceptions.Precision, c.Flags);
        c = Context(AllMasked);
        Assert.Equal(BitConverter.DoubleToUInt64Bits(double.Epsilon), X87Arithmetic.ToBinary64(D(double.Epsilon), ref c));
        Assert.Equal(0, c.Flags);

        // An SNaN is quietened with IE.
        c = Context(AllMasked);
        Assert.Equal(0x7FC00001u, X87Arithmetic.ToBinary32(new Extended80(0x8000010000000000UL, 0x7FFF), ref c));
        Assert.Equal(X87Exceptions.Invalid, c.Flags);
    }

    [Fact]
    public void LoadsFromBinary32And64_AreExactAndFlagDenormals()
    {
        Assert.Equal(new Extended80(0x8000000000000000UL, 0x3FFF - 149), Extended80.FromBinary32(1, out bool denormal));
        Assert.True(denormal);
        Assert.Equal(new Extended80(0x8000000000000000UL, 0x3FFF - 1074), Extended80.FromBinary64(1, out denormal));
        Assert.True(denormal);
        Assert.Equal(new Extended80(0xC000000000000000UL, 0x3FFF), Extended80.FromBinary32(BitConverter.SingleToUInt32Bits(1.5f), out denormal));
        Assert.False(denormal);
        Assert.Equal(Extended80.Infinity(true), Extended80.FromBinary64(BitConverter.DoubleToUInt64Bits(double.NegativeInfinity), out _));
    }

    [Fact]
    public void IntegerConversions_RoundPerRcAndRejectOutOfRange()
    {
        X87Context c = Context(AllMasked | RcNearest);
        Assert.True(X87Arithmetic.ToInteger(D(2.5), 32, false, ref c, out long value));
        Assert.Equal(2, value);
        Assert.True(X87Arithmetic.ToInteger(D(-3.5), 32, false, ref c, out value));
        Assert.Equal(-4, value);
        Assert.True(c.RoundedUp);
        Assert.Equal(X87Exceptions.Precision, c.Flags);
        c = Context(AllMasked | RcNearest);
        Assert.True(X87Arithmetic.ToInteger(D(-2.7), 16, truncate: true, ref c, out value));
        Assert.Equal(-2, value);
        Assert.True(X87Arithmetic.ToInteger(D(-32768), 16, false, ref c, out value));
        Assert.Equal(-32768, value);
        Assert.False(X87Arithmetic.ToInteger(D(32768), 16, false, ref c, out _));
        Assert.Equal(X87Exceptions.Invalid | X87Exceptions.Precision, c.Flags);
        c = Context(AllMasked);
        Assert.True(X87Arithmetic.ToInteger(new Extended80(0x8000000000000000UL, 0x3FFF + 63), 64, false, ref c, out _) == false);
        Assert.True(X87Arithmetic.ToInteger(new Extended80(0x8000000000000000UL, 0xBFFF + 63), 64, false, ref c, out value));
        Assert.Equal(long.MinValue, value);
    }

    [Fact]
    public void RoundToInteger_UsesRcNotPc()
    {
        X87Context c = new((ushort)(AllMasked | Pc24 | RcNearest), usePrecisionControl: false);
        Assert.Equal(D(2), X87Arithmetic.RoundToInteger(D(2.5), ref c));
        Assert.Equal(X87Exceptions.Precision, c.Flags);
        Assert.Equal(D(16777217), X87Arithmetic.RoundToInteger(D(16777217.25), ref c));
        c = new((ushort)(AllMasked | RcUp), usePrecisionControl: false);
        Assert.Equal(D(3), X87Arithmetic.RoundToInteger(D(2.1), ref c));
        Assert.True(c.RoundedUp);
        Assert.Equal(Extended80.Zero(true), X87Arithmetic.RoundToInteger(D(-0.3), ref c));
        c = new((ushort)(AllMasked | RcDown), usePrecisionControl: false);
        Assert.Equal(D(-1), X87Arithmetic.RoundToInteger(D(-0.3), ref c));
    }

    [Fact]
    public void Constants_RoundPerRc()
    {
        Assert.Equal(new Extended80(0xC90FDAA22168C235UL, 0x4000), X87Arithmetic.Constant(0xC90FDAA22168C234, 0x4000, true, X87Context.RoundNearest));
        Assert.Equal(new Extended80(0xC90FDAA22168C234UL, 0x4000), X87Arithmetic.Constant(0xC90FDAA22168C234, 0x4000, true, X87Context.RoundDown));
        Assert.Equal(new Extended80(0xC90FDAA22168C234UL, 0x4000), X87Arithmetic.Constant(0xC90FDAA22168C234, 0x4000, true, X87Context.RoundTowardZero));
        Assert.Equal(new Extended80(0xC90FDAA22168C235UL, 0x4000), X87Arithmetic.Constant(0xC90FDAA22168C234, 0x4000, true, X87Context.RoundUp));
    }

    [Fact]
    public void PartialRemainders_MatchTheIeeeDefinitions()
    {
        var random = new Random(5);
        for (int i = 0; i < 5000; i++)
        {
            double a = RandomDouble(random), b = RandomDouble(random) / 1e6;
            X87Context c = Context(AllMasked);
            Extended80 fprem1 = X87Arithmetic.PartialRemainder(D(a), D(b), true, ref c, out _, out bool complete);
            if (!complete) continue;
            Assert.Equal(D(Math.IEEERemainder(a, b)), fprem1);
            Extended80 fprem = X87Arithmetic.PartialRemainder(D(a), D(b), false, ref c, out _, out _);
            Assert.Equal(D(a % b), fprem);
            Assert.Equal(0, c.Flags & ~X87Exceptions.Denormal);
        }

        X87Context context = Context(AllMasked);
        X87Arithmetic.PartialRemainder(D(10), D(3), false, ref context, out int quotient, out bool done);
        Assert.Equal(3, quotient);
        Assert.True(done);
        Assert.Equal(D(-2), X87Arithmetic.PartialRemainder(D(14), D(4), true, ref context, out quotient, out _));
        Assert.Equal(4, quotient);
        X87Arithmetic.PartialRemainder(D(1e300), D(3), false, ref context, out _, out done);
        Assert.False(done);
    }

    [Fact]
    public void ScaleAndExtract()
    {
        X87Context c = Context(AllMasked);
        Assert.Equal(D(-24), X87Arithmetic.Scale(D(-3), D(3.9), ref c));
        Assert.Equal(D(0.75), X87Arithmetic.Scale(D(3), D(-2.5), ref c));
        Assert.Equal(0, c.Flags);
        X87Arithmetic.Extract(D(-12), ref c, out Extended80 exponent, out Extended80 significand);
        Assert.Equal(D(3), exponent);
        Assert.Equal(D(-1.5), significand);
        X87Arithmetic.Extract(Extended80.Zero(false), ref c, out exponent, out _);
        Assert.Equal(Extended80.Infinity(true), exponent);
        Assert.Equal(X87Exceptions.ZeroDivide, c.Flags);
    }

    [Fact]
    public void Compare_OrdersSignedZerosAndNaNs()
    {
        X87Context c = Context(AllMasked);
        Assert.Equal(0, X87Arithmetic.Compare(Extended80.Zero(true), Extended80.Zero(false), true, ref c));
        Assert.Equal(-1, X87Arithmetic.Compare(D(-5), Extended80.Zero(true), true, ref c));
        Assert.Equal(1, X87Arithmetic.Compare(D(-2), D(-5), true, ref c));
        Assert.Equal(-1, X87Arithmetic.Compare(D(7), Extended80.Infinity(false), true, ref c));
        Assert.Equal(0, c.Flags);
        var quiet = new Extended80(0xC000000000000000UL, 0x7FFF);
        Assert.Equal(2, X87Arithmetic.Compare(quiet, One, false, ref c));
        Assert.Equal(0, c.Flags);
        Assert.Equal(2, X87Arithmetic.Compare(quiet, One, true, ref c));
        Assert.Equal(X87Exceptions.Invalid, c.Flags);
    }

    [Fact]
    public void SquareRoots_AtFullPrecision()
    {
        // Digits from an exact integer square root: sqrt(2) = 0xB504F333F9DE6484|0101…, sqrt(3) = 0xDDB3D742C265539D|1001…,
        // sqrt(10) = 0xCA62C1D6D2DA9490|00100… (times 2^1 for sqrt(10)).
        X87Context c = Context(AllMasked | Pc64 | RcNearest);
        Assert.Equal(new Extended80(0xB504F333F9DE6484UL, 0x3FFF), X87Arithmetic.SquareRoot(D(2), ref c));
        Assert.False(c.RoundedUp);
        Assert.Equal(new Extended80(0xDDB3D742C265539EUL, 0x3FFF), X87Arithmetic.SquareRoot(D(3), ref c));
        Assert.True(c.RoundedUp);
        Assert.Equal(new Extended80(0xCA62C1D6D2DA9490UL, 0x4000), X87Arithmetic.SquareRoot(D(10), ref c));
        Assert.Equal(X87Exceptions.Precision, c.Flags);
        c = Context(AllMasked | Pc64 | RcUp);
        Assert.Equal(new Extended80(0xB504F333F9DE6485UL, 0x3FFF), X87Arithmetic.SquareRoot(D(2), ref c));
        Assert.True(c.RoundedUp);
        // Exact roots of values using all 64 significand bits, and of the largest finite and a denormal.
        c = Context(AllMasked | Pc64);
        ulong odd = 0xFFFFFFFFUL;
        Assert.Equal(new Extended80(odd << 32, 0x3FFF + 31), X87Arithmetic.SquareRoot(new Extended80(odd * odd, 0x3FFF + 63), ref c));
        Assert.Equal(new Extended80(0x8000000000000000UL, 0x3FFF - 8222), X87Arithmetic.SquareRoot(new Extended80(2, 0), ref c));
        Assert.Equal(X87Exceptions.Denormal, c.Flags);
        c = Context(AllMasked | Pc64 | RcZero);
        Assert.Equal(new Extended80(0xFFFFFFFFFFFFFFFFUL, 0x3FFF + 8191), X87Arithmetic.SquareRoot(new Extended80(ulong.MaxValue, 0x7FFE), ref c));
    }

    [Fact]
    public void Fscale_MassiveOverflowAndUnderflowUnmasked_GiveSignedInfinityAndZero()
    {
        // Even with the exponent biased by 24576 these do not fit, so the SDM (and the EPYC) deliver infinity or zero.
        X87Context c = Context((ushort)(AllMasked & ~X87Exceptions.Overflow));
        Assert.Equal(Extended80.Infinity(true), X87Arithmetic.Scale(D(-1), D(50000), ref c));
        Assert.Equal(X87Exceptions.Overflow | X87Exceptions.Precision, c.Flags);
        Assert.True(c.RoundedUp);
        c = Context((ushort)(AllMasked & ~X87Exceptions.Underflow));
        Assert.Equal(Extended80.Zero(false), X87Arithmetic.Scale(D(1), D(-50000), ref c));
        Assert.Equal(X87Exceptions.Underflow | X87Exceptions.Precision, c.Flags);
        // Within reach of the bias: the biased result.
        c = Context((ushort)(AllMasked & ~X87Exceptions.Overflow));
        Assert.Equal(new Extended80(0x8000000000000000UL, 0x3FFF + 20000 - 0x6000), X87Arithmetic.Scale(D(1), D(20000), ref c));
        Assert.Equal(X87Exceptions.Overflow, c.Flags);
    }
}
