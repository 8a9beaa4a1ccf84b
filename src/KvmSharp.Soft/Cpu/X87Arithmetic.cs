using System.Numerics;

namespace KvmSharp.Soft.Cpu;

/// <summary>FSW exception flags, at their FSW (and FCW mask) bit positions.</summary>
public static class X87Exceptions
{
    public const int Invalid = 1 << 0, Denormal = 1 << 1, ZeroDivide = 1 << 2, Overflow = 1 << 3, Underflow = 1 << 4, Precision = 1 << 5;
    public const int All = 0x3F;
}

/// <summary>
/// What one x87 operation is rounded with (FCW's RC, PC and masks) and what it reports: the exception flags it raised
/// and whether the delivered result was rounded up in magnitude (FSW.C1).
/// </summary>
public struct X87Context
{
    public const int RoundNearest = 0, RoundDown = 1, RoundUp = 2, RoundTowardZero = 3;

    public int RoundingControl;
    /// <summary>Significand bits results are rounded to: 24, 53 or 64.</summary>
    public int PrecisionBits;
    public int Masks;
    public int Flags;
    public bool RoundedUp;
    /// <summary>The invalid operation was a stack overflow or underflow (FSW.SF).</summary>
    public bool StackFault;

    /// <summary>Reads FCW; <paramref name="usePrecisionControl"/> only for the instructions PC governs (add, subtract, multiply, divide, square root).</summary>
    public X87Context(ushort fcw, bool usePrecisionControl)
    {
        RoundingControl = (fcw >> 10) & 3;
        // PC 01 is reserved; like the 64-bit setting it leaves the full significand.
        PrecisionBits = !usePrecisionControl ? 64 : ((fcw >> 8) & 3) switch { 0 => 24, 2 => 53, _ => 64 };
        Masks = fcw & X87Exceptions.All;
        Flags = 0;
        RoundedUp = false;
        StackFault = false;
    }

    public readonly bool IsMasked(int exception) => (Masks & exception) != 0;
}

/// <summary>
/// IEEE arithmetic on <see cref="Extended80"/> values with the x87's rules (Intel SDM vol. 1 ch. 4 and 8): results are
/// computed exactly, then rounded once per <see cref="X87Context"/>; tininess is judged after rounding with an unbounded
/// exponent; masked overflow and underflow deliver infinity/largest-finite and denormals, unmasked ones deliver the
/// result with its exponent biased by 24576 (register destinations; stores to memory leave memory alone).
/// </summary>
public static class X87Arithmetic
{
    private const int Bias = Extended80.Bias;
    private const int InfinityExponent = int.MaxValue;

    /// <summary>Exponent range (as Extended80 biased exponents) and precision of a destination format.</summary>
    private readonly record struct Format(int Precision, int MinExponent, int MaxExponent, int BiasAdjust);

    private static readonly Format s_extended = new(64, 1, 0x7FFE, 24576);
    private static readonly Format s_double = new(53, Bias - 1022, Bias + 1023, 1536);
    private static readonly Format s_single = new(24, Bias - 126, Bias + 127, 192);

    /// <summary>A rounded result: bit 63 of the significand clear means a denormal (or zero) of its format.</summary>
    private readonly record struct Rounded(bool Sign, int Exponent, ulong Significand);

    public static Extended80 Add(Extended80 a, Extended80 b, ref X87Context context) => AddOrSubtract(a, b, false, ref context);

    public static Extended80 Subtract(Extended80 a, Extended80 b, ref X87Context context) => AddOrSubtract(a, b, true, ref context);

    private static Extended80 AddOrSubtract(Extended80 a, Extended80 b, bool subtract, ref X87Context context)
    {
        if (SpecialOperands(a, b, ref context, out Extended80 special)) return special;
        if (subtract) b = b.Negate();
        if (a.IsInfinity || b.IsInfinity)
        {
            if (a.IsInfinity && b.IsInfinity && a.Sign != b.Sign) return InvalidResult(ref context);
            return a.IsInfinity ? a : b;
        }
        if (a.IsZero && b.IsZero)
            return a.Sign == b.Sign ? a : Extended80.Zero(context.RoundingControl == X87Context.RoundDown);
        if (a.IsZero) return RoundToContext(b, context.PrecisionBits, ref context);
        if (b.IsZero) return RoundToContext(a, context.PrecisionBits, ref context);

        a.Unpack(out ulong significandA, out int exponentA);
        b.Unpack(out ulong significandB, out int exponentB);
        bool signA = a.Sign, signB = b.Sign;
        if (exponentA < exponentB || (exponentA == exponentB && significandA < significandB))
        {
            (significandA, significandB) = (significandB, significandA);
            (exponentA, exponentB) = (exponentB, exponentA);
            (signA, signB) = (signB, signA);
        }
        // 62 guard bits below the significand plus a sticky bit keep the single final rounding exact.
        UInt128 larger = (UInt128)significandA << 62;
        UInt128 smaller = ShiftRightJam((UInt128)significandB << 62, exponentA - exponentB);
        UInt128 sum;
        if (signA == signB) sum = larger + smaller;
        else
        {
            sum = larger - smaller;
            if (sum == 0) return Extended80.Zero(context.RoundingControl == X87Context.RoundDown);
        }
        return ToExtended(RoundPack(signA, sum, exponentA - Bias - 63 - 62, context.PrecisionBits, s_extended, ref context));
    }

    public static Extended80 Multiply(Extended80 a, Extended80 b, ref X87Context context)
    {
        if (SpecialOperands(a, b, ref context, out Extended80 special)) return special;
        bool sign = a.Sign ^ b.Sign;
        if (a.IsInfinity || b.IsInfinity)
            return a.IsZero || b.IsZero ? InvalidResult(ref context) : Extended80.Infinity(sign);
        if (a.IsZero || b.IsZero) return Extended80.Zero(sign);
        a.Unpack(out ulong significandA, out int exponentA);
        b.Unpack(out ulong significandB, out int exponentB);
        UInt128 product = (UInt128)significandA * significandB;
        return ToExtended(RoundPack(sign, product, exponentA - Bias - 63 + exponentB - Bias - 63, context.PrecisionBits, s_extended, ref context));
    }

    public static Extended80 Divide(Extended80 a, Extended80 b, ref X87Context context)
    {
        if (SpecialOperands(a, b, ref context, out Extended80 special)) return special;
        bool sign = a.Sign ^ b.Sign;
        if (a.IsInfinity) return b.IsInfinity ? InvalidResult(ref context) : Extended80.Infinity(sign);
        if (b.IsInfinity) return Extended80.Zero(sign);
        if (b.IsZero)
        {
            if (a.IsZero) return InvalidResult(ref context);
            // Division by zero reports ZE alone, even for a denormal dividend (as SSE does on the EPYC).
            context.Flags &= ~X87Exceptions.Denormal;
            context.Flags |= X87Exceptions.ZeroDivide;
            return Extended80.Infinity(sign);
        }
        if (a.IsZero) return Extended80.Zero(sign);
        a.Unpack(out ulong significandA, out int exponentA);
        b.Unpack(out ulong significandB, out int exponentB);
        // Two 64-bit quotient digits: the first from the dividend scaled by 2^63 (below 2^64 since both are normalized),
        // the second from the remainder; what is still left over becomes the sticky bit.
        UInt128 numerator = (UInt128)significandA << 63;
        UInt128 high = numerator / significandB;
        UInt128 remainder = numerator % significandB;
        UInt128 low = (remainder << 64) / significandB;
        UInt128 rest = (remainder << 64) % significandB;
        UInt128 quotient = (high << 64) | low | (rest != 0 ? UInt128.One : UInt128.Zero);
        return ToExtended(RoundPack(sign, quotient, exponentA - exponentB - 127, context.PrecisionBits, s_extended, ref context));
    }

    public static Extended80 SquareRoot(Extended80 a, ref X87Context context)
    {
        if (a.IsUnsupported) return InvalidResult(ref context);
        if (a.IsNaN) return QuietNaN(a, ref context);
        if (a.IsZero) return a;
        if (a.Sign) return InvalidResult(ref context);
        if (a.IsDenormal) context.Flags |= X87Exceptions.Denormal;
        if (a.IsInfinity) return a;
        a.Unpack(out ulong significand, out int exponent);
        int power = exponent - Bias - 63;
        // The significand scaled by 2^64 or 2^63 (so the power halves exactly), of which the integer square root has
        // 64 or 63 bits; two more root bits and a sticky bit come from the remainder.
        bool even = (power & 1) == 0;
        UInt128 radicand = even ? (UInt128)significand << 64 : (UInt128)significand << 63;
        ulong root = IntegerSquareRoot(radicand);
        UInt128 remainder = radicand - (UInt128)root * root;
        // sqrt = root + f with 0 <= f < 1: the quarter q = floor(4f) is the largest q with 16 rem >= 8 q root + q^2.
        UInt128 scaledRemainder = remainder << 4;
        int quarter = 3;
        while (quarter > 0 && scaledRemainder < ((UInt128)root << 3) * (uint)quarter + (uint)(quarter * quarter)) quarter--;
        bool exact = scaledRemainder == ((UInt128)root << 3) * (uint)quarter + (uint)(quarter * quarter);
        UInt128 withSticky = ((UInt128)root << 3) | (uint)(quarter << 1) | (exact ? 0u : 1u);
        int halfPower = even ? (power - 64) >> 1 : (power - 63) >> 1;
        return ToExtended(RoundPack(false, withSticky, halfPower - 3, context.PrecisionBits, s_extended, ref context));
    }

    /// <summary>floor(sqrt(value)): a double-precision estimate, one Newton step, then a final correction.</summary>
    private static ulong IntegerSquareRoot(UInt128 value)
    {
        UInt128 estimate = (UInt128)Math.Sqrt((double)value);
        if (estimate > ulong.MaxValue) estimate = ulong.MaxValue;
        if (estimate != 0) estimate = (estimate + value / estimate) >> 1;
        if (estimate > ulong.MaxValue) estimate = ulong.MaxValue;
        ulong root = (ulong)estimate;
        while ((UInt128)root * root > value) root--;
        while (root != ulong.MaxValue && (UInt128)(root + 1) * (root + 1) <= value) root++;
        return root;
    }

    /// <summary>FRNDINT: rounds to an integer per RC (never PC); PE when that changed the value.</summary>
    public static Extended80 RoundToInteger(Extended80 a, ref X87Context context)
    {
        if (a.IsUnsupported) return InvalidResult(ref context);
        if (a.IsNaN) return QuietNaN(a, ref context);
        if (a.IsDenormal) context.Flags |= X87Exceptions.Denormal;
        if (a.IsZero || a.IsInfinity) return a;
        a.Unpack(out ulong significand, out int exponent);
        if (exponent - Bias >= 63) return a;
        UInt128 magnitude = RoundToIntegerMagnitude(significand, exponent - Bias, a.Sign, context.RoundingControl, out bool inexact, out bool up);
        if (inexact) context.Flags |= X87Exceptions.Precision;
        context.RoundedUp = up;
        if (magnitude == 0) return Extended80.Zero(a.Sign);
        ulong integer = (ulong)magnitude;
        int shift = BitOperations.LeadingZeroCount(integer);
        return new(integer << shift, (ushort)((a.Sign ? 0x8000 : 0) | (Bias + 63 - shift)));
    }

    /// <summary>
    /// FIST/FISTTP: the value rounded per RC (or truncated) as a <paramref name="bits"/>-bit integer; false (with IE) for
    /// NaNs, infinities, unsupported encodings and values out of range, where the caller stores the integer indefinite.
    /// </summary>
    public static bool ToInteger(Extended80 a, int bits, bool truncate, ref X87Context context, out long value)
    {
        value = 0;
        if (a.IsUnsupported || a.IsNaN || a.IsInfinity)
        {
            context.Flags |= X87Exceptions.Invalid;
            return false;
        }
        if (a.IsZero) return true;
        a.Unpack(out ulong significand, out int exponent);
        if (exponent - Bias >= 64)
        {
            context.Flags |= X87Exceptions.Invalid;
            return false;
        }
        int rounding = truncate ? X87Context.RoundTowardZero : context.RoundingControl;
        UInt128 magnitude = RoundToIntegerMagnitude(significand, exponent - Bias, a.Sign, rounding, out bool inexact, out bool up);
        UInt128 limit = ((UInt128)1 << (bits - 1)) - (a.Sign ? UInt128.Zero : UInt128.One);
        if (magnitude > limit)
        {
            context.Flags |= X87Exceptions.Invalid;
            return false;
        }
        if (inexact) context.Flags |= X87Exceptions.Precision;
        context.RoundedUp = up;
        value = a.Sign ? -(long)(ulong)magnitude : (long)(ulong)magnitude;
        return true;
    }

    /// <summary>FST/FSTP m32fp: rounded per RC to binary32 (PC does not apply).</summary>
    public static uint ToBinary32(Extended80 a, ref X87Context context) => (uint)ToBinary(a, s_single, 23, 8, ref context);

    /// <summary>FST/FSTP m64fp: rounded per RC to binary64 (PC does not apply).</summary>
    public static ulong ToBinary64(Extended80 a, ref X87Context context) => ToBinary(a, s_double, 52, 11, ref context);

    private static ulong ToBinary(Extended80 a, Format format, int fractionBits, int exponentBits, ref X87Context context)
    {
        ulong sign = a.Sign ? 1UL << (fractionBits + exponentBits) : 0;
        ulong exponentMask = (1UL << exponentBits) - 1;
        ulong quietBit = 1UL << (fractionBits - 1);
        if (a.IsUnsupported)
        {
            context.Flags |= X87Exceptions.Invalid;
            return (1UL << (fractionBits + exponentBits)) | (exponentMask << fractionBits) | quietBit;
        }
        if (a.IsNaN)
        {
            if (a.IsSignalingNaN) context.Flags |= X87Exceptions.Invalid;
            ulong payload = (a.Significand >> (63 - fractionBits)) & ((1UL << fractionBits) - 1);
            return sign | (exponentMask << fractionBits) | payload | quietBit;
        }
        if (a.IsInfinity) return sign | (exponentMask << fractionBits);
        if (a.IsZero) return sign;
        a.Unpack(out ulong significand, out int exponent);
        Rounded rounded = RoundPack(a.Sign, significand, exponent - Bias - 63, format.Precision, format, ref context);
        return PackBinary(rounded, format, fractionBits, exponentBits);
    }

    private static ulong PackBinary(Rounded rounded, Format format, int fractionBits, int exponentBits)
    {
        ulong sign = rounded.Sign ? 1UL << (fractionBits + exponentBits) : 0;
        ulong exponentMask = (1UL << exponentBits) - 1;
        if (rounded.Exponent == InfinityExponent) return sign | (exponentMask << fractionBits);
        ulong fraction = (rounded.Significand >> (63 - fractionBits)) & ((1UL << fractionBits) - 1);
        if ((rounded.Significand >> 63) == 0) return sign | fraction;
        int formatBias = (int)(exponentMask >> 1);
        ulong exponent = (ulong)(rounded.Exponent - Bias + formatBias) & exponentMask;
        return sign | (exponent << fractionBits) | fraction;
    }

    /// <summary>Rounds an 80-bit value to <paramref name="precision"/> bits of the extended format (zeros pass through).</summary>
    public static Extended80 RoundToContext(Extended80 a, int precision, ref X87Context context)
    {
        if (a.IsZero || a.IsInfinity || a.IsNaN) return a;
        a.Unpack(out ulong significand, out int exponent);
        return ToExtended(RoundPack(a.Sign, significand, exponent - Bias - 63, precision, s_extended, ref context));
    }

    /// <summary>FCOM and relatives: -1, 0, 1, or 2 for unordered. <paramref name="quietNaNsInvalid"/> for the signaling compares.</summary>
    public static int Compare(Extended80 a, Extended80 b, bool quietNaNsInvalid, ref X87Context context)
    {
        if (a.IsUnsupported || b.IsUnsupported)
        {
            context.Flags &= ~X87Exceptions.Denormal;
            context.Flags |= X87Exceptions.Invalid;
            return 2;
        }
        if (a.IsNaN || b.IsNaN)
        {
            // As in arithmetic, a NaN hides the other operand's being denormal (a denormal m32/m64 set DE when read).
            context.Flags &= ~X87Exceptions.Denormal;
            if (quietNaNsInvalid || a.IsSignalingNaN || b.IsSignalingNaN) context.Flags |= X87Exceptions.Invalid;
            return 2;
        }
        if (a.IsDenormal || b.IsDenormal) context.Flags |= X87Exceptions.Denormal;
        if (a.IsZero && b.IsZero) return 0;
        bool negativeA = a.Sign && !a.IsZero, negativeB = b.Sign && !b.IsZero;
        if (negativeA != negativeB) return negativeA ? -1 : 1;
        int magnitude = CompareMagnitude(a, b);
        return negativeA ? -magnitude : magnitude;
    }

    private static int CompareMagnitude(Extended80 a, Extended80 b)
    {
        if (a.IsZero) return b.IsZero ? 0 : -1;
        if (b.IsZero) return 1;
        if (a.IsInfinity) return b.IsInfinity ? 0 : 1;
        if (b.IsInfinity) return -1;
        a.Unpack(out ulong significandA, out int exponentA);
        b.Unpack(out ulong significandB, out int exponentB);
        if (exponentA != exponentB) return exponentA < exponentB ? -1 : 1;
        return significandA.CompareTo(significandB);
    }

    /// <summary>FSCALE: ST0 times 2 to the power ST1 truncated toward zero; exact unless the result leaves the range.</summary>
    public static Extended80 Scale(Extended80 a, Extended80 b, ref X87Context context)
    {
        if (SpecialOperands(a, b, ref context, out Extended80 special)) return special;
        if (b.IsInfinity)
        {
            if (a.IsInfinity) return b.Sign ? InvalidResult(ref context) : a;
            if (a.IsZero) return b.Sign ? a : InvalidResult(ref context);
            return b.Sign ? Extended80.Zero(a.Sign) : Extended80.Infinity(a.Sign);
        }
        if (a.IsInfinity || a.IsZero) return a;
        int power = 0;
        if (!b.IsZero)
        {
            b.Unpack(out ulong significandB, out int exponentB);
            int unbiased = exponentB - Bias;
            // Past 2^20 every scale overflows or underflows completely; clamping keeps the sums in range.
            long magnitude = unbiased < 0 ? 0 : unbiased > 20 ? 1 << 20 : (long)(significandB >> (63 - unbiased));
            power = (int)(b.Sign ? -magnitude : magnitude);
        }
        a.Unpack(out ulong significand, out int exponent);
        return ToExtended(RoundPack(a.Sign, significand, exponent - Bias - 63 + power, 64, s_extended, ref context));
    }

    /// <summary>FXTRACT: splits into the unbiased exponent and the significand with exponent 0.</summary>
    public static void Extract(Extended80 a, ref X87Context context, out Extended80 exponentPart, out Extended80 significandPart)
    {
        if (a.IsUnsupported)
        {
            exponentPart = significandPart = InvalidResult(ref context);
            return;
        }
        if (a.IsNaN)
        {
            exponentPart = significandPart = QuietNaN(a, ref context);
            return;
        }
        if (a.IsZero)
        {
            context.Flags |= X87Exceptions.ZeroDivide;
            exponentPart = Extended80.Infinity(true);
            significandPart = a;
            return;
        }
        if (a.IsInfinity)
        {
            exponentPart = Extended80.Infinity(false);
            significandPart = a;
            return;
        }
        if (a.IsDenormal) context.Flags |= X87Exceptions.Denormal;
        a.Unpack(out ulong significand, out int exponent);
        exponentPart = Extended80.FromInt64(exponent - Bias);
        significandPart = new(significand, (ushort)((a.Sign ? 0x8000 : 0) | Bias));
    }

    /// <summary>
    /// FPREM (truncating quotient) and FPREM1 (quotient rounded to nearest). When the exponents differ by 64 or more only
    /// a partial reduction is done (<paramref name="complete"/> false), by 32 to 63 bits: 32 plus the difference's low five bits.
    /// </summary>
    public static Extended80 PartialRemainder(Extended80 a, Extended80 b, bool roundToNearest, ref X87Context context, out int quotientLowBits, out bool complete)
    {
        quotientLowBits = 0;
        complete = true;
        if (SpecialOperands(a, b, ref context, out Extended80 special)) return special;
        if (a.IsInfinity || b.IsZero) return InvalidResult(ref context);
        if (b.IsInfinity || a.IsZero) return RoundToContext(a, 64, ref context);
        a.Unpack(out ulong significandA, out int exponentA);
        b.Unpack(out ulong significandB, out int exponentB);
        int difference = exponentA - exponentB;
        if (difference >= 64)
        {
            complete = false;
            int reduction = 32 | (difference & 31);
            UInt128 partial = ((UInt128)significandA << reduction) % significandB;
            if (partial == 0) return Extended80.Zero(a.Sign);
            return ToExtended(RoundPack(a.Sign, partial, exponentA - reduction - Bias - 63, 64, s_extended, ref context));
        }
        if (difference < -1) return RoundToContext(a, 64, ref context);
        // Both scaled to half of ST1's last place, so FPREM1's halfway case is visible as an integer.
        UInt128 dividend = (UInt128)significandA << (difference + 1);
        UInt128 divisor = (UInt128)significandB << 1;
        UInt128 quotient = dividend / divisor;
        UInt128 remainder = dividend % divisor;
        bool sign = a.Sign;
        if (roundToNearest && (remainder * 2 > divisor || (remainder * 2 == divisor && (quotient & 1) == 1)))
        {
            quotient++;
            remainder = divisor - remainder;
            sign = !sign;
        }
        quotientLowBits = (int)(quotient & 7);
        if (remainder == 0) return Extended80.Zero(a.Sign);
        return ToExtended(RoundPack(sign, remainder, exponentB - Bias - 64, 64, s_extended, ref context));
    }

    /// <summary>
    /// FLDPI and the other irrational constants: the SDM defines them as rounded per RC from a 66-bit constant, which
    /// gives the correctly rounded value in every mode; <paramref name="truncated"/> is the value rounded toward zero.
    /// </summary>
    public static Extended80 Constant(ulong truncated, ushort signExponent, bool nearestRoundsUp, int roundingControl)
    {
        bool up = roundingControl == X87Context.RoundUp || (roundingControl == X87Context.RoundNearest && nearestRoundsUp);
        return new(truncated + (up ? 1UL : 0), signExponent);
    }

    /// <summary>Invalid operands and NaNs, in the x87's order; true when they decide the result. Flags DE for denormals otherwise.</summary>
    private static bool SpecialOperands(Extended80 a, Extended80 b, ref X87Context context, out Extended80 result)
    {
        if (a.IsUnsupported || b.IsUnsupported)
        {
            result = InvalidResult(ref context);
            return true;
        }
        if (a.IsNaN || b.IsNaN)
        {
            result = PropagateNaN(a, b, ref context);
            return true;
        }
        if (a.IsDenormal || b.IsDenormal) context.Flags |= X87Exceptions.Denormal;
        result = default;
        return false;
    }

    /// <summary>
    /// The x87 NaN rule (SDM vol. 1 table 4-7): a QNaN beats an SNaN; between two of a kind the larger significand wins,
    /// and the positive one when the significands are equal. The result is always quiet; an SNaN operand raises IE.
    /// </summary>
    public static Extended80 PropagateNaN(Extended80 a, Extended80 b, ref X87Context context)
    {
        // With a NaN operand the other one's being denormal is not reported (EPYC: QNaN + denormal m32 gives no DE).
        context.Flags &= ~X87Exceptions.Denormal;
        if (a.IsSignalingNaN || b.IsSignalingNaN) context.Flags |= X87Exceptions.Invalid;
        if (!a.IsNaN) return b.Quieted();
        if (!b.IsNaN) return a.Quieted();
        if (a.IsSignalingNaN != b.IsSignalingNaN) return (a.IsSignalingNaN ? b : a).Quieted();
        ulong significandA = a.Significand | (1UL << 62), significandB = b.Significand | (1UL << 62);
        if (significandA != significandB) return (significandA > significandB ? a : b).Quieted();
        return (a.Sign ? b : a).Quieted();
    }

    public static Extended80 QuietNaN(Extended80 a, ref X87Context context)
    {
        if (a.IsSignalingNaN) context.Flags |= X87Exceptions.Invalid;
        return a.Quieted();
    }

    public static Extended80 InvalidResult(ref X87Context context)
    {
        // An invalid operation reports no denormal operand beside it (EPYC: FPREM of ∞ by a denormal gives IE alone).
        context.Flags &= ~X87Exceptions.Denormal;
        context.Flags |= X87Exceptions.Invalid;
        return Extended80.Indefinite;
    }

    private static Extended80 ToExtended(Rounded rounded)
    {
        ushort sign = rounded.Sign ? (ushort)0x8000 : (ushort)0;
        if (rounded.Exponent == InfinityExponent) return Extended80.Infinity(rounded.Sign);
        if ((rounded.Significand >> 63) == 0) return new(rounded.Significand, sign);
        return new(rounded.Significand, (ushort)(sign | (rounded.Exponent & 0x7FFF)));
    }

    /// <summary>
    /// Rounds <paramref name="significand"/> × 2^<paramref name="scale"/> (any sticky information already folded into
    /// bit 0, which must lie below the rounding position) to <paramref name="precision"/> bits in <paramref name="format"/>.
    /// </summary>
    private static Rounded RoundPack(bool sign, UInt128 significand, int scale, int precision, Format format, ref X87Context context)
    {
        if (significand == 0) return new(sign, 0, 0);
        int leadingZeros = (int)UInt128.LeadingZeroCount(significand);
        significand <<= leadingZeros;
        int exponent = scale + 127 - leadingZeros + Bias;
        int drop = 128 - precision;
        // Tininess is judged on the result rounded to the precision with an unbounded exponent (SDM vol. 1 4.9.1.5).
        ulong kept = RoundAt(significand, drop, precision, sign, context.RoundingControl, out bool inexact, out bool up, out bool carry);
        int roundedExponent = exponent + (carry ? 1 : 0);
        ulong aligned = kept << (64 - precision);
        if (roundedExponent < format.MinExponent)
        {
            if (!context.IsMasked(X87Exceptions.Underflow))
            {
                if (roundedExponent + format.BiasAdjust < format.MinExponent)
                {
                    // Still tiny after biasing (only FSCALE gets here): a signed zero (SDM vol. 1 8.5.5).
                    context.Flags |= X87Exceptions.Underflow | X87Exceptions.Precision;
                    context.RoundedUp = false;
                    return new(sign, 0, 0);
                }
                context.Flags |= X87Exceptions.Underflow | (inexact ? X87Exceptions.Precision : 0);
                context.RoundedUp = up;
                return new(sign, roundedExponent + format.BiasAdjust, aligned);
            }
            // Masked: denormalize, then round at the same fixed bit position; UE only when that loses bits.
            UInt128 denormal = ShiftRightJam(significand, format.MinExponent - exponent);
            kept = RoundAt(denormal, drop, precision, sign, context.RoundingControl, out inexact, out up, out _);
            if (inexact) context.Flags |= X87Exceptions.Underflow | X87Exceptions.Precision;
            context.RoundedUp = up;
            return new(sign, format.MinExponent, kept << (64 - precision));
        }
        if (roundedExponent > format.MaxExponent)
        {
            if (!context.IsMasked(X87Exceptions.Overflow))
            {
                if (roundedExponent - format.BiasAdjust > format.MaxExponent)
                {
                    // Still too large after biasing (only FSCALE gets here): a signed infinity (SDM vol. 1 8.5.4).
                    context.Flags |= X87Exceptions.Overflow | X87Exceptions.Precision;
                    context.RoundedUp = true;
                    return new(sign, InfinityExponent, 1UL << 63);
                }
                context.Flags |= X87Exceptions.Overflow | (inexact ? X87Exceptions.Precision : 0);
                context.RoundedUp = up;
                return new(sign, roundedExponent - format.BiasAdjust, aligned);
            }
            context.Flags |= X87Exceptions.Overflow | X87Exceptions.Precision;
            int rc = context.RoundingControl;
            bool toInfinity = rc == X87Context.RoundNearest || (rc == X87Context.RoundUp && !sign) || (rc == X87Context.RoundDown && sign);
            context.RoundedUp = toInfinity;
            return toInfinity ? new(sign, InfinityExponent, 1UL << 63) : new(sign, format.MaxExponent, ulong.MaxValue << (64 - precision));
        }
        if (inexact) context.Flags |= X87Exceptions.Precision;
        context.RoundedUp = up;
        return new(sign, roundedExponent, aligned);
    }

    /// <summary>Keeps the bits of <paramref name="value"/> above <paramref name="drop"/> (at most 64 of them), rounded.</summary>
    private static ulong RoundAt(UInt128 value, int drop, int precision, bool sign, int roundingControl, out bool inexact, out bool up, out bool carry)
    {
        ulong kept = (ulong)(value >> drop);
        UInt128 rest = value & (((UInt128)1 << drop) - 1);
        UInt128 half = (UInt128)1 << (drop - 1);
        inexact = rest != 0;
        up = roundingControl switch
        {
            X87Context.RoundNearest => rest > half || (rest == half && (kept & 1) != 0),
            X87Context.RoundDown => sign && inexact,
            X87Context.RoundUp => !sign && inexact,
            _ => false,
        };
        carry = false;
        if (up)
        {
            kept++;
            if (precision == 64 ? kept == 0 : kept == 1UL << precision)
            {
                kept = 1UL << (precision - 1);
                carry = true;
            }
        }
        return kept;
    }

    /// <summary>|value| rounded to an integer, for 1 &lt;= 2^<paramref name="unbiasedExponent"/> &lt; 2^64 or smaller values.</summary>
    private static UInt128 RoundToIntegerMagnitude(ulong significand, int unbiasedExponent, bool sign, int roundingControl, out bool inexact, out bool up)
    {
        if (unbiasedExponent >= 63)
        {
            inexact = up = false;
            return (UInt128)significand << (unbiasedExponent - 63);
        }
        // Fixed point with 64 fraction bits; whatever falls further below only matters as "nonzero".
        UInt128 fixedPoint = ShiftRightJam((UInt128)significand << 64, 63 - unbiasedExponent);
        UInt128 integer = fixedPoint >> 64;
        ulong fraction = (ulong)fixedPoint;
        inexact = fraction != 0;
        up = roundingControl switch
        {
            X87Context.RoundNearest => fraction > 1UL << 63 || (fraction == 1UL << 63 && (integer & 1) != 0),
            X87Context.RoundDown => sign && inexact,
            X87Context.RoundUp => !sign && inexact,
            _ => false,
        };
        return up ? integer + 1 : integer;
    }

    private static UInt128 ShiftRightJam(UInt128 value, int count)
    {
        if (count <= 0) return value;
        if (count >= 128) return value != 0 ? UInt128.One : UInt128.Zero;
        return (value >> count) | ((value << (128 - count)) != 0 ? UInt128.One : UInt128.Zero);
    }
}
