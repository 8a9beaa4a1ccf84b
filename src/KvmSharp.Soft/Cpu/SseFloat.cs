using System.Numerics;

namespace KvmSharp.Soft.Cpu;

/// <summary>
/// IEEE-754 binary32/binary64 arithmetic as the SSE unit does it: every operation takes the raw operand bits and the
/// MXCSR (rounding control, DAZ, FTZ, exception masks) and returns the raw result bits while OR-ing the exception flags
/// it detects into <c>flags</c> (MXCSR bits 0-5). Decisions that need the masks (the masked overflow and underflow
/// responses) are taken here; whether an unmasked flag turns into #XM is the caller's business.
/// The common case (round to nearest, normal operands, a comfortably normal result) is computed by the host's own
/// hardware with an error-free check for inexactness; everything else goes through an exact integer path.
/// </summary>
public static class SseFloat
{
    public const uint FlagInvalid = 1, FlagDenormal = 2, FlagDivideByZero = 4, FlagOverflow = 8, FlagUnderflow = 16,
        FlagPrecision = 32;

    /// <summary>The flags an instruction detects before computing (an unmasked one stops it before any result exists).</summary>
    public const uint PreComputationFlags = FlagInvalid | FlagDenormal | FlagDivideByZero;

    public const uint DenormalsAreZero = 1 << 6;
    public const int MaskShift = 7;
    public const int RoundingShift = 13;
    public const uint FlushToZero = 1 << 15;

    public const uint SingleDefaultNaN = 0xFFC00000;
    public const ulong DoubleDefaultNaN = 0xFFF8000000000000;
    public const uint Int32Indefinite = 0x80000000;
    public const ulong Int64Indefinite = 0x8000000000000000;

    private const int RoundNearest = 0, RoundDown = 1, RoundUp = 2, RoundTowardZero = 3;

    private enum Kind { Zero, Denormal, Normal, Infinity, QuietNaN, SignalingNaN }

    /// <summary>An operand split into sign and an exact value significand × 2^exponent (significand 0 for zero).</summary>
    private readonly record struct Unpacked(Kind Kind, bool Negative, ulong Significand, int Exponent);

    /// <summary>binary32 or binary64 geometry.</summary>
    private sealed class Format(int fractionBits, int exponentBits)
    {
        public readonly int FractionBits = fractionBits;
        public readonly int Precision = fractionBits + 1;
        public readonly int Bias = (1 << (exponentBits - 1)) - 1;
        public readonly ulong ExponentField = (1UL << exponentBits) - 1;
        public readonly ulong FractionMask = (1UL << fractionBits) - 1;
        public readonly ulong QuietBit = 1UL << (fractionBits - 1);
        public readonly ulong SignBit = 1UL << (fractionBits + exponentBits);
        public readonly ulong DefaultNaN = fractionBits == 23 ? SingleDefaultNaN : DoubleDefaultNaN;
        public int MinExponent => 1 - Bias;
        public ulong Infinity => ExponentField << FractionBits;
        public ulong LargestFinite => ((ExponentField - 1) << FractionBits) | FractionMask;
    }

    private static readonly Format Single = new(23, 8);
    private static readonly Format Double = new(52, 11);

    private static Format Of(bool isDouble) => isDouble ? Double : Single;

    private static bool Masked(uint mxcsr, uint flag) => (mxcsr & (flag << MaskShift)) != 0;

    private static int RoundingControl(uint mxcsr) => (int)(mxcsr >> RoundingShift) & 3;

    // ---------------------------------------------------------------- classification

    private static Unpacked Unpack(ulong bits, Format f, uint mxcsr)
    {
        bool negative = (bits & f.SignBit) != 0;
        ulong exponent = (bits >> f.FractionBits) & f.ExponentField;
        ulong fraction = bits & f.FractionMask;
        if (exponent == f.ExponentField)
        {
            if (fraction == 0) return new(Kind.Infinity, negative, 0, 0);
            return new((fraction & f.QuietBit) != 0 ? Kind.QuietNaN : Kind.SignalingNaN, negative, 0, 0);
        }
        if (exponent == 0)
        {
            if (fraction == 0 || (mxcsr & DenormalsAreZero) != 0) return new(Kind.Zero, negative, 0, 0);
            return new(Kind.Denormal, negative, fraction, f.MinExponent - f.FractionBits);
        }
        return new(Kind.Normal, negative, fraction | (1UL << f.FractionBits), (int)exponent - f.Bias - f.FractionBits);
    }

    private static bool IsNaN(Unpacked u) => u.Kind is Kind.QuietNaN or Kind.SignalingNaN;

    private static bool IsFinite(Unpacked u) => u.Kind is Kind.Zero or Kind.Denormal or Kind.Normal;

    /// <summary>The operand as the instruction sees it: a denormal reads as a signed zero under DAZ.</summary>
    private static ulong Effective(ulong bits, Format f, uint mxcsr) =>
        (mxcsr & DenormalsAreZero) != 0 && ((bits >> f.FractionBits) & f.ExponentField) == 0 ? bits & f.SignBit : bits;

    /// <summary>
    /// The x86 NaN rule for two-operand instructions: the first operand's NaN if it has one, else the second's, quietened;
    /// IE when either is signalling.
    /// </summary>
    private static ulong PropagateNaN(ulong a, Unpacked ua, ulong b, Unpacked ub, Format f, ref uint flags)
    {
        if (ua.Kind == Kind.SignalingNaN || ub.Kind == Kind.SignalingNaN) flags |= FlagInvalid;
        return (IsNaN(ua) ? a : b) | f.QuietBit;
    }

    private static void NoteDenormals(Unpacked a, Unpacked b, ref uint flags)
    {
        if (a.Kind == Kind.Denormal || b.Kind == Kind.Denormal) flags |= FlagDenormal;
    }

    // ---------------------------------------------------------------- rounding

    /// <summary>
    /// Shifts <paramref name="significand"/> right by <paramref name="shift"/> bits, rounding per <paramref name="rc"/>;
    /// <paramref name="sticky"/> says that non-zero bits lie below the significand's last bit.
    /// </summary>
    private static UInt128 ShiftRound(UInt128 significand, int shift, bool sticky, bool negative, int rc, out bool inexact)
    {
        UInt128 kept, remainder, half;
        if (shift <= 0)
        {
            inexact = sticky;
            kept = significand << -shift;
            remainder = 0;
            half = 1; // an unknown non-zero remainder below the last bit is under half an ulp
        }
        else if (shift >= 128)
        {
            inexact = sticky || significand != 0;
            kept = 0;
            remainder = 0;
            half = 1;
        }
        else
        {
            kept = significand >> shift;
            remainder = significand & ((UInt128.One << shift) - 1);
            half = UInt128.One << (shift - 1);
            inexact = sticky || remainder != 0;
        }
        if (!inexact) return kept;
        bool increment = rc switch
        {
            RoundNearest => remainder > half || (remainder == half && (sticky || (kept & 1) != 0)),
            RoundDown => negative,
            RoundUp => !negative,
            _ => false,
        };
        return increment ? kept + 1 : kept;
    }

    /// <summary>
    /// Rounds the exact non-zero value ±significand × 2^exponent (plus a sticky remainder below it, in which case the
    /// significand must carry at least two bits beyond the format's precision) to the format, with overflow, tininess
    /// after rounding, FTZ and the masked responses as MXCSR says.
    /// </summary>
    private static ulong RoundPack(bool negative, int exponent, UInt128 significand, bool sticky, Format f, uint mxcsr, ref uint flags)
    {
        ulong sign = negative ? f.SignBit : 0;
        int rc = RoundingControl(mxcsr);
        int length = 128 - (int)UInt128.LeadingZeroCount(significand);
        int leadExponent = exponent + length - 1;

        // Rounded to the format's precision with an unbounded exponent: decides overflow and tininess.
        UInt128 rounded = ShiftRound(significand, length - f.Precision, sticky, negative, rc, out bool inexact);
        if (rounded >> f.Precision != 0)
        {
            rounded >>= 1;
            leadExponent++;
        }

        if (leadExponent > f.Bias)
        {
            flags |= FlagOverflow;
            if (!Masked(mxcsr, FlagOverflow))
            {
                if (inexact) flags |= FlagPrecision;
                return f.Infinity | sign;
            }
            flags |= FlagPrecision;
            bool toInfinity = rc == RoundNearest || (rc == RoundUp && !negative) || (rc == RoundDown && negative);
            return (toInfinity ? f.Infinity : f.LargestFinite) | sign;
        }

        if (leadExponent >= f.MinExponent)
        {
            if (inexact) flags |= FlagPrecision;
            return sign | ((ulong)(leadExponent + f.Bias) << f.FractionBits) | ((ulong)rounded & f.FractionMask);
        }

        // Tiny.
        if (!Masked(mxcsr, FlagUnderflow))
        {
            flags |= FlagUnderflow;
            if (inexact) flags |= FlagPrecision;
            return sign;
        }
        if ((mxcsr & FlushToZero) != 0)
        {
            flags |= FlagUnderflow | FlagPrecision;
            return sign;
        }
        // Denormal result: units of 2^(MinExponent - FractionBits). A carry into bit FractionBits is the smallest normal.
        UInt128 denormal = ShiftRound(significand, f.MinExponent - f.FractionBits - exponent, sticky, negative, rc, out bool denormalInexact);
        if (denormalInexact) flags |= FlagUnderflow | FlagPrecision;
        return sign | (ulong)denormal;
    }

    private static UInt128 ShiftRightJam(UInt128 value, int shift)
    {
        if (shift <= 0) return value;
        if (shift >= 128) return value != 0 ? UInt128.One : UInt128.Zero;
        UInt128 lost = value & ((UInt128.One << shift) - 1);
        return (value >> shift) | (lost != 0 ? UInt128.One : UInt128.Zero);
    }

    // ---------------------------------------------------------------- arithmetic

    public static ulong Add(ulong a, ulong b, bool isDouble, uint mxcsr, ref uint flags) =>
        AddOrSubtract(a, b, false, isDouble, mxcsr, ref flags);

    public static ulong Subtract(ulong a, ulong b, bool isDouble, uint mxcsr, ref uint flags) =>
        AddOrSubtract(a, b, true, isDouble, mxcsr, ref flags);

    private static ulong AddOrSubtract(ulong a, ulong b, bool subtract, bool isDouble, uint mxcsr, ref uint flags)
    {
        if (RoundingControl(mxcsr) == RoundNearest && TryFastAdd(a, b, subtract, isDouble, out ulong fast, out bool inexact))
        {
            if (inexact) flags |= FlagPrecision;
            return fast;
        }
        return AddOrSubtractExact(a, b, subtract, isDouble, mxcsr, ref flags);
    }

    /// <summary>
    /// The exact integer path of ADD and SUB (<paramref name="subtract"/>), which <see cref="Add"/> and
    /// <see cref="Subtract"/> take whenever the hardware shortcut cannot decide; public so that tests can hold both
    /// paths to the same answers.
    /// </summary>
    public static ulong AddOrSubtractExact(ulong a, ulong b, bool subtract, bool isDouble, uint mxcsr, ref uint flags)
    {
        Format f = Of(isDouble);
        Unpacked x = Unpack(a, f, mxcsr), y = Unpack(b, f, mxcsr);
        if (IsNaN(x) || IsNaN(y)) return PropagateNaN(a, x, b, y, f, ref flags);
        bool yNegative = y.Negative ^ subtract;
        if (x.Kind == Kind.Infinity || y.Kind == Kind.Infinity)
        {
            if (x.Kind == Kind.Infinity && y.Kind == Kind.Infinity && x.Negative != yNegative)
            {
                flags |= FlagInvalid;
                return f.DefaultNaN;
            }
            NoteDenormals(x, y, ref flags);
            bool negative = x.Kind == Kind.Infinity ? x.Negative : yNegative;
            return f.Infinity | (negative ? f.SignBit : 0);
        }
        NoteDenormals(x, y, ref flags);

        // Both significands get 64 guard bits, so a smaller operand shifted far right can be folded into a sticky bit.
        UInt128 xs = (UInt128)x.Significand << 64, ys = (UInt128)y.Significand << 64;
        int xe = x.Exponent - 64, ye = y.Exponent - 64;
        if (x.Kind == Kind.Zero) xe = ye;
        if (y.Kind == Kind.Zero) ye = xe;
        int exponent = Math.Max(xe, ye);
        xs = ShiftRightJam(xs, exponent - xe);
        ys = ShiftRightJam(ys, exponent - ye);
        UInt128 sum;
        bool resultNegative;
        if (x.Negative == yNegative)
        {
            sum = xs + ys;
            resultNegative = x.Negative;
        }
        else if (xs >= ys)
        {
            sum = xs - ys;
            resultNegative = x.Negative;
        }
        else
        {
            sum = ys - xs;
            resultNegative = yNegative;
        }
        if (sum == 0)
        {
            // An exact zero: -0 only from two negative zeros, or from cancellation when rounding down.
            bool negativeZero = x.Negative == yNegative ? x.Negative : RoundingControl(mxcsr) == RoundDown;
            return negativeZero ? f.SignBit : 0;
        }
        return RoundPack(resultNegative, exponent, sum, false, f, mxcsr, ref flags);
    }

    public static ulong Multiply(ulong a, ulong b, bool isDouble, uint mxcsr, ref uint flags)
    {
        if (RoundingControl(mxcsr) == RoundNearest && TryFastMultiply(a, b, isDouble, out ulong fast, out bool inexact))
        {
            if (inexact) flags |= FlagPrecision;
            return fast;
        }
        return MultiplyExact(a, b, isDouble, mxcsr, ref flags);
    }

    /// <summary>The exact integer path of <see cref="Multiply"/>, public so that tests can hold both paths to the same answers.</summary>
    public static ulong MultiplyExact(ulong a, ulong b, bool isDouble, uint mxcsr, ref uint flags)
    {
        Format f = Of(isDouble);
        Unpacked x = Unpack(a, f, mxcsr), y = Unpack(b, f, mxcsr);
        if (IsNaN(x) || IsNaN(y)) return PropagateNaN(a, x, b, y, f, ref flags);
        bool negative = x.Negative ^ y.Negative;
        ulong sign = negative ? f.SignBit : 0;
        if (x.Kind == Kind.Infinity || y.Kind == Kind.Infinity)
        {
            if (x.Kind == Kind.Zero || y.Kind == Kind.Zero)
            {
                flags |= FlagInvalid;
                return f.DefaultNaN;
            }
            NoteDenormals(x, y, ref flags);
            return f.Infinity | sign;
        }
        NoteDenormals(x, y, ref flags);
        if (x.Kind == Kind.Zero || y.Kind == Kind.Zero) return sign;
        UInt128 product = (UInt128)x.Significand * y.Significand;
        return RoundPack(negative, x.Exponent + y.Exponent, product, false, f, mxcsr, ref flags);
    }

    public static ulong Divide(ulong a, ulong b, bool isDouble, uint mxcsr, ref uint flags)
    {
        if (RoundingControl(mxcsr) == RoundNearest && TryFastDivide(a, b, isDouble, out ulong fast, out bool inexact))
        {
            if (inexact) flags |= FlagPrecision;
            return fast;
        }
        return DivideExact(a, b, isDouble, mxcsr, ref flags);
    }

    /// <summary>The exact integer path of <see cref="Divide"/>, public so that tests can hold both paths to the same answers.</summary>
    public static ulong DivideExact(ulong a, ulong b, bool isDouble, uint mxcsr, ref uint flags)
    {
        Format f = Of(isDouble);
        Unpacked x = Unpack(a, f, mxcsr), y = Unpack(b, f, mxcsr);
        if (IsNaN(x) || IsNaN(y)) return PropagateNaN(a, x, b, y, f, ref flags);
        bool negative = x.Negative ^ y.Negative;
        ulong sign = negative ? f.SignBit : 0;
        if (x.Kind == Kind.Infinity)
        {
            if (y.Kind == Kind.Infinity)
            {
                flags |= FlagInvalid;
                return f.DefaultNaN;
            }
            NoteDenormals(x, y, ref flags);
            return f.Infinity | sign;
        }
        if (y.Kind == Kind.Infinity)
        {
            NoteDenormals(x, y, ref flags);
            return sign;
        }
        if (y.Kind == Kind.Zero)
        {
            if (x.Kind == Kind.Zero)
            {
                flags |= FlagInvalid;
                return f.DefaultNaN;
            }
            flags |= FlagDivideByZero;
            return f.Infinity | sign;
        }
        NoteDenormals(x, y, ref flags);
        if (x.Kind == Kind.Zero) return sign;
        int xShift = BitOperations.LeadingZeroCount(x.Significand);
        int yShift = BitOperations.LeadingZeroCount(y.Significand);
        ulong dividend = x.Significand << xShift, divisor = y.Significand << yShift;
        // (dividend × 2^64) / divisor lies in (2^63, 2^65): at least 64 significant quotient bits, the rest is sticky.
        (UInt128 quotient, UInt128 remainder) = UInt128.DivRem((UInt128)dividend << 64, divisor);
        bool sticky = remainder != 0;
        int exponent = (x.Exponent - xShift) - (y.Exponent - yShift) - 64;
        return RoundPack(negative, exponent, quotient, sticky, f, mxcsr, ref flags);
    }

    /// <summary>SQRTxx: the source is the second operand only.</summary>
    public static ulong SquareRoot(ulong b, bool isDouble, uint mxcsr, ref uint flags)
    {
        if (RoundingControl(mxcsr) == RoundNearest && TryFastSquareRoot(b, isDouble, out ulong fast, out bool inexact))
        {
            if (inexact) flags |= FlagPrecision;
            return fast;
        }
        return SquareRootExact(b, isDouble, mxcsr, ref flags);
    }

    /// <summary>The exact integer path of <see cref="SquareRoot"/>, public so that tests can hold both paths to the same answers.</summary>
    public static ulong SquareRootExact(ulong b, bool isDouble, uint mxcsr, ref uint flags)
    {
        Format f = Of(isDouble);
        Unpacked y = Unpack(b, f, mxcsr);
        if (IsNaN(y))
        {
            if (y.Kind == Kind.SignalingNaN) flags |= FlagInvalid;
            return b | f.QuietBit;
        }
        if (y.Kind == Kind.Zero) return y.Negative ? f.SignBit : 0;
        if (y.Negative)
        {
            flags |= FlagInvalid;
            return f.DefaultNaN;
        }
        if (y.Kind == Kind.Infinity) return f.Infinity;
        if (y.Kind == Kind.Denormal) flags |= FlagDenormal;
        int shift = BitOperations.LeadingZeroCount(y.Significand);
        ulong normalized = y.Significand << shift;
        int exponent = y.Exponent - shift;
        // Radicand of 127 or 128 bits with an even exponent: its integer square root has exactly 64 bits.
        int radicandShift = (exponent & 1) == 0 ? 64 : 63;
        UInt128 radicand = (UInt128)normalized << radicandShift;
        UInt128 root = IntegerSquareRoot(radicand, out bool inexactRoot);
        return RoundPack(false, (exponent - radicandShift) / 2, root, inexactRoot, f, mxcsr, ref flags);
    }

    /// <summary>
    /// Floor of the square root of a radicand in [2^126, 2^128), and whether it was inexact. The host's square root of the
    /// radicand rounded to binary64 is within about 2^11 of the answer; one Newton step and a final adjustment make it exact.
    /// </summary>
    private static UInt128 IntegerSquareRoot(UInt128 radicand, out bool hasRemainder)
    {
        ulong root = (ulong)Math.Min(Math.Sqrt((double)radicand), 18446744073709549568.0);
        root = (ulong)(((UInt128)root + radicand / root) >> 1);
        while ((UInt128)root * root > radicand) root--;
        while (root < ulong.MaxValue && (UInt128)(root + 1) * (root + 1) <= radicand) root++;
        hasRemainder = (UInt128)root * root != radicand;
        return root;
    }

    /// <summary>MINxx: the second operand when either is a NaN (IE) or both are zero, else the smaller one.</summary>
    public static ulong Minimum(ulong a, ulong b, bool isDouble, uint mxcsr, ref uint flags) =>
        MinOrMax(a, b, isDouble, mxcsr, ref flags, maximum: false);

    /// <summary>MAXxx: the second operand when either is a NaN (IE) or both are zero, else the larger one.</summary>
    public static ulong Maximum(ulong a, ulong b, bool isDouble, uint mxcsr, ref uint flags) =>
        MinOrMax(a, b, isDouble, mxcsr, ref flags, maximum: true);

    private static ulong MinOrMax(ulong a, ulong b, bool isDouble, uint mxcsr, ref uint flags, bool maximum)
    {
        Format f = Of(isDouble);
        Unpacked x = Unpack(a, f, mxcsr), y = Unpack(b, f, mxcsr);
        ulong effectiveB = Effective(b, f, mxcsr);
        if (IsNaN(x) || IsNaN(y))
        {
            flags |= FlagInvalid;
            return effectiveB;
        }
        NoteDenormals(x, y, ref flags);
        ulong effectiveA = Effective(a, f, mxcsr);
        double left = ToDouble(effectiveA, isDouble), right = ToDouble(effectiveB, isDouble);
        bool takeFirst = maximum ? left > right : left < right;
        return takeFirst ? effectiveA : effectiveB;
    }

    private static double ToDouble(ulong bits, bool isDouble) =>
        isDouble ? BitConverter.UInt64BitsToDouble(bits) : BitConverter.UInt32BitsToSingle((uint)bits);

    // ---------------------------------------------------------------- comparisons

    /// <summary>The outcome of comparing two operands.</summary>
    public enum Ordering { Less, Equal, Greater, Unordered }

    /// <summary>
    /// Compares for COMIS/UCOMIS/CMPxx: IE for a signalling NaN, or for any NaN when <paramref name="signalOnQuietNaN"/>;
    /// DE for a denormal when no NaN is involved.
    /// </summary>
    public static Ordering Compare(ulong a, ulong b, bool isDouble, uint mxcsr, bool signalOnQuietNaN, ref uint flags)
    {
        Format f = Of(isDouble);
        Unpacked x = Unpack(a, f, mxcsr), y = Unpack(b, f, mxcsr);
        if (IsNaN(x) || IsNaN(y))
        {
            if (signalOnQuietNaN || x.Kind == Kind.SignalingNaN || y.Kind == Kind.SignalingNaN) flags |= FlagInvalid;
            return Ordering.Unordered;
        }
        NoteDenormals(x, y, ref flags);
        double left = ToDouble(Effective(a, f, mxcsr), isDouble), right = ToDouble(Effective(b, f, mxcsr), isDouble);
        return left < right ? Ordering.Less : left > right ? Ordering.Greater : Ordering.Equal;
    }

    /// <summary>
    /// CMPxx predicate 0-7 (EQ, LT, LE, UNORD, NEQ, NLT, NLE, ORD); LT, LE, NLT and NLE also signal on quiet NaNs.
    /// </summary>
    public static bool ComparePredicate(ulong a, ulong b, bool isDouble, int predicate, uint mxcsr, ref uint flags)
    {
        bool signalling = predicate is 1 or 2 or 5 or 6;
        Ordering ordering = Compare(a, b, isDouble, mxcsr, signalling, ref flags);
        return predicate switch
        {
            0 => ordering == Ordering.Equal,
            1 => ordering == Ordering.Less,
            2 => ordering is Ordering.Less or Ordering.Equal,
            3 => ordering == Ordering.Unordered,
            4 => ordering != Ordering.Equal,
            5 => ordering != Ordering.Less,
            6 => ordering is not (Ordering.Less or Ordering.Equal),
            _ => ordering != Ordering.Unordered,
        };
    }

    // ---------------------------------------------------------------- conversions

    /// <summary>binary32 → binary64 (<paramref name="toDouble"/>) or binary64 → binary32.</summary>
    public static ulong ConvertFloat(ulong bits, bool toDouble, uint mxcsr, ref uint flags)
    {
        Format from = Of(!toDouble), to = Of(toDouble);
        Unpacked x = Unpack(bits, from, mxcsr);
        ulong sign = x.Negative ? to.SignBit : 0;
        switch (x.Kind)
        {
            case Kind.QuietNaN:
            case Kind.SignalingNaN:
            {
                if (x.Kind == Kind.SignalingNaN) flags |= FlagInvalid;
                ulong fraction = bits & from.FractionMask;
                int delta = to.FractionBits - from.FractionBits;
                fraction = delta >= 0 ? fraction << delta : fraction >> -delta;
                return sign | to.Infinity | to.QuietBit | fraction;
            }
            case Kind.Infinity:
                return sign | to.Infinity;
            case Kind.Zero:
                return sign;
        }
        if (x.Kind == Kind.Denormal) flags |= FlagDenormal;
        return RoundPack(x.Negative, x.Exponent, x.Significand, false, to, mxcsr, ref flags);
    }

    /// <summary>CVTSI2xx / CVTDQ2xx: a signed integer rounded to the format per MXCSR.RC (PE when inexact).</summary>
    public static ulong FromInteger(long value, bool toDouble, uint mxcsr, ref uint flags)
    {
        if (value == 0) return 0;
        ulong magnitude = value < 0 ? 0UL - (ulong)value : (ulong)value;
        return RoundPack(value < 0, 0, magnitude, false, Of(toDouble), mxcsr, ref flags);
    }

    /// <summary>
    /// <paramref name="bits"/> rounded to an integer-valued float of the same format with rounding control <paramref name="rc"/>
    /// (0 nearest-even, 1 down, 2 up, 3 toward zero). Only sign, exponent and the fraction bits below the binary point
    /// matter, so this works on the bit pattern: dropping those bits truncates, and adding one unit of the lowest integer
    /// bit rounds away from zero, a carry into the exponent included.
    /// </summary>
    public static ulong RoundToIntegral(ulong bits, bool isDouble, int rc, bool denormalsAreZero, ref uint flags)
    {
        int fractionBits = isDouble ? 52 : 23;
        int bias = isDouble ? 1023 : 127;
        ulong exponentField = isDouble ? 0x7FFUL : 0xFFUL;
        ulong signBit = 1UL << (isDouble ? 63 : 31);
        ulong fractionMask = (1UL << fractionBits) - 1;
        ulong exponent = bits >> fractionBits & exponentField;
        bool negative = (bits & signBit) != 0;
        if (exponent == exponentField)
        {
            if ((bits & fractionMask) == 0) return bits;
            ulong quietBit = 1UL << (fractionBits - 1);
            if ((bits & quietBit) == 0) flags |= FlagInvalid;
            return bits | quietBit;
        }
        if ((bits & ~signBit) == 0) return bits;
        if (exponent == 0 && denormalsAreZero) return bits & signBit;
        int unbiased = (int)exponent - bias;
        if (unbiased >= fractionBits) return bits;
        ulong one = (ulong)bias << fractionBits;
        if (unbiased < 0)
        {
            // |x| < 1: the result is a signed zero or a signed one.
            flags |= FlagPrecision;
            bool roundsToOne = rc switch
            {
                0 => unbiased == -1 && (bits & fractionMask) != 0, // above one half; exactly one half goes to even zero
                1 => negative,
                2 => !negative,
                _ => false,
            };
            return (bits & signBit) | (roundsToOne ? one : 0);
        }
        int dropped = fractionBits - unbiased;
        ulong droppedMask = (1UL << dropped) - 1;
        ulong remainder = bits & droppedMask;
        if (remainder == 0) return bits;
        flags |= FlagPrecision;
        ulong truncated = bits & ~droppedMask;
        ulong half = 1UL << (dropped - 1);
        bool awayFromZero = rc switch
        {
            0 => remainder > half || (remainder == half && (truncated >> dropped & 1) != 0),
            1 => negative,
            2 => !negative,
            _ => false,
        };
        return awayFromZero ? truncated + (1UL << dropped) : truncated;
    }

    /// <summary>
    /// CVT(T)xx2SI / CVT(T)xx2DQ: to a 32- or 64-bit signed integer, truncating or rounding per MXCSR.RC. NaN, infinity
    /// and values out of range give the integer indefinite with IE; an inexact conversion sets PE.
    /// </summary>
    public static ulong ToInteger(ulong bits, bool isDouble, bool to64, bool truncate, uint mxcsr, ref uint flags)
    {
        Format f = Of(isDouble);
        Unpacked x = Unpack(bits, f, mxcsr);
        ulong indefinite = to64 ? Int64Indefinite : Int32Indefinite;
        if (!IsFinite(x))
        {
            flags |= FlagInvalid;
            return indefinite;
        }
        if (x.Kind == Kind.Zero) return 0;
        int rc = truncate ? RoundTowardZero : RoundingControl(mxcsr);
        int width = to64 ? 64 : 32;
        UInt128 magnitude;
        bool inexact = false;
        if (x.Exponent >= 0)
        {
            if (x.Exponent >= width) magnitude = UInt128.MaxValue;
            else magnitude = (UInt128)x.Significand << x.Exponent;
        }
        else
        {
            magnitude = ShiftRound(x.Significand, -x.Exponent, false, x.Negative, rc, out inexact);
        }
        UInt128 limit = (UInt128)1 << (width - 1);
        if (x.Negative ? magnitude > limit : magnitude >= limit)
        {
            flags |= FlagInvalid;
            return indefinite;
        }
        if (inexact) flags |= FlagPrecision;
        ulong result = x.Negative ? 0UL - (ulong)magnitude : (ulong)magnitude;
        return to64 ? result : result & 0xFFFFFFFF;
    }

    // ---------------------------------------------------------------- hardware fast paths (round to nearest only)

    // A double result at least this large (and operands at least this large, for division and square root) leaves the
    // error terms below well inside the normal range, so the fused multiply-add sees them exactly.
    private const double SafeDoubleMagnitude = 1.0e-280;
    private const double SmallestNormalDouble = 2.2250738585072014e-308;
    private const float SmallestNormalSingle = 1.17549435e-38f;

    private static bool NormalOrZeroSingle(uint bits)
    {
        uint exponent = (bits >> 23) & 0xFF;
        return exponent != 0xFF && (exponent != 0 || (bits & 0x7FFFFF) == 0);
    }

    private static bool NormalOrZeroDouble(ulong bits)
    {
        ulong exponent = (bits >> 52) & 0x7FF;
        return exponent != 0x7FF && (exponent != 0 || (bits & 0xFFFFFFFFFFFFF) == 0);
    }

    private static bool SafeDouble(double value) => value == 0 || Math.Abs(value) >= SafeDoubleMagnitude;

    private static bool ComfortablyNormalSingle(float value) =>
        float.IsFinite(value) && Math.Abs(value) > SmallestNormalSingle;

    private static bool TryFastAdd(ulong a, ulong b, bool subtract, bool isDouble, out ulong result, out bool inexact)
    {
        result = 0;
        inexact = false;
        if (isDouble)
        {
            if (!NormalOrZeroDouble(a) || !NormalOrZeroDouble(b)) return false;
            double x = BitConverter.UInt64BitsToDouble(a), y = BitConverter.UInt64BitsToDouble(b);
            if (subtract) y = -y;
            double sum = x + y;
            // A zero sum of these operands is exact; otherwise the result must be normal and not the smallest normal
            // (which could be a rounded-up tiny value).
            if (!double.IsFinite(sum) || (sum != 0 && Math.Abs(sum) <= SmallestNormalDouble)) return false;
            double error = TwoSumError(x, y, sum);
            inexact = error != 0;
            result = BitConverter.DoubleToUInt64Bits(sum);
            return true;
        }
        else
        {
            if (!NormalOrZeroSingle((uint)a) || !NormalOrZeroSingle((uint)b)) return false;
            double x = BitConverter.UInt32BitsToSingle((uint)a), y = BitConverter.UInt32BitsToSingle((uint)b);
            if (subtract) y = -y;
            // Rounding the binary64 sum again to binary32 is correct for round to nearest (53 >= 2 × 24 + 2).
            double wide = x + y;
            float sum = (float)wide;
            if (sum == 0 ? wide != 0 : !ComfortablyNormalSingle(sum)) return false;
            inexact = TwoSumError(x, y, wide) != 0 || sum != wide;
            result = BitConverter.SingleToUInt32Bits(sum);
            return true;
        }
    }

    private static double TwoSumError(double x, double y, double sum)
    {
        double yPart = sum - x;
        double xPart = sum - yPart;
        return (x - xPart) + (y - yPart);
    }

    private static bool TryFastMultiply(ulong a, ulong b, bool isDouble, out ulong result, out bool inexact)
    {
        result = 0;
        inexact = false;
        if (isDouble)
        {
            if (!NormalOrZeroDouble(a) || !NormalOrZeroDouble(b)) return false;
            double x = BitConverter.UInt64BitsToDouble(a), y = BitConverter.UInt64BitsToDouble(b);
            double product = x * y;
            if (product == 0 ? x != 0 && y != 0 : !double.IsFinite(product) || Math.Abs(product) < SafeDoubleMagnitude) return false;
            inexact = Math.FusedMultiplyAdd(x, y, -product) != 0;
            result = BitConverter.DoubleToUInt64Bits(product);
            return true;
        }
        else
        {
            if (!NormalOrZeroSingle((uint)a) || !NormalOrZeroSingle((uint)b)) return false;
            double x = BitConverter.UInt32BitsToSingle((uint)a), y = BitConverter.UInt32BitsToSingle((uint)b);
            double wide = x * y; // exact: 48 significant bits
            float product = (float)wide;
            if (product == 0 ? wide != 0 : !ComfortablyNormalSingle(product)) return false;
            inexact = product != wide;
            result = BitConverter.SingleToUInt32Bits(product);
            return true;
        }
    }

    private static bool TryFastDivide(ulong a, ulong b, bool isDouble, out ulong result, out bool inexact)
    {
        result = 0;
        inexact = false;
        if (isDouble)
        {
            if (!NormalOrZeroDouble(a) || !NormalOrZeroDouble(b)) return false;
            double x = BitConverter.UInt64BitsToDouble(a), y = BitConverter.UInt64BitsToDouble(b);
            if (y == 0 || !SafeDouble(x)) return false;
            double quotient = x / y;
            if (quotient == 0 ? x != 0 : !double.IsFinite(quotient) || Math.Abs(quotient) < SafeDoubleMagnitude) return false;
            inexact = Math.FusedMultiplyAdd(-quotient, y, x) != 0;
            result = BitConverter.DoubleToUInt64Bits(quotient);
            return true;
        }
        else
        {
            if (!NormalOrZeroSingle((uint)a) || !NormalOrZeroSingle((uint)b)) return false;
            float x = BitConverter.UInt32BitsToSingle((uint)a), y = BitConverter.UInt32BitsToSingle((uint)b);
            if (y == 0) return false;
            float quotient = x / y;
            if (quotient == 0 ? x != 0 : !ComfortablyNormalSingle(quotient)) return false;
            inexact = (double)quotient * y != x; // exact product in binary64
            result = BitConverter.SingleToUInt32Bits(quotient);
            return true;
        }
    }

    private static bool TryFastSquareRoot(ulong b, bool isDouble, out ulong result, out bool inexact)
    {
        result = 0;
        inexact = false;
        if (isDouble)
        {
            if (!NormalOrZeroDouble(b)) return false;
            double y = BitConverter.UInt64BitsToDouble(b);
            if (y <= 0 || y < SafeDoubleMagnitude) return false;
            double root = Math.Sqrt(y);
            inexact = Math.FusedMultiplyAdd(root, root, -y) != 0;
            result = BitConverter.DoubleToUInt64Bits(root);
            return true;
        }
        else
        {
            if (!NormalOrZeroSingle((uint)b)) return false;
            float y = BitConverter.UInt32BitsToSingle((uint)b);
            if (y <= 0) return false;
            float root = MathF.Sqrt(y);
            inexact = (double)root * root != y; // exact square in binary64
            result = BitConverter.SingleToUInt32Bits(root);
            return true;
        }
    }
}
