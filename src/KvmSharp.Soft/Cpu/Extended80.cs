using System.Numerics;

namespace KvmSharp.Soft.Cpu;

/// <summary>
/// An x87 80-bit value exactly as the register file and memory hold it: a 64-bit significand with an explicit integer
/// bit (bit 63) and a word of sign (bit 15) plus 15-bit biased exponent.
/// </summary>
public readonly record struct Extended80(ulong Significand, ushort SignExponent)
{
    public const int Bias = 16383;
    public const int MaxExponent = 0x7FFF;
    private const ulong IntegerBit = 1UL << 63;
    private const ulong QuietBit = 1UL << 62;

    /// <summary>The "real indefinite": what a masked invalid operation delivers.</summary>
    public static readonly Extended80 Indefinite = new(0xC000000000000000UL, 0xFFFF);

    public bool Sign => (SignExponent & 0x8000) != 0;
    public int Exponent => SignExponent & 0x7FFF;
    public bool IsZero => Exponent == 0 && Significand == 0;
    /// <summary>Denormals and pseudo-denormals (exponent 0 with the integer bit set) alike.</summary>
    public bool IsDenormal => Exponent == 0 && Significand != 0;
    public bool IsInfinity => Exponent == MaxExponent && Significand == IntegerBit;
    public bool IsNaN => Exponent == MaxExponent && (Significand & IntegerBit) != 0 && (Significand << 1) != 0;
    public bool IsSignalingNaN => IsNaN && (Significand & QuietBit) == 0;
    /// <summary>Unnormals, pseudo-infinities and pseudo-NaNs: encodings the 387 and later reject as invalid operands.</summary>
    public bool IsUnsupported => Exponent != 0 && (Significand & IntegerBit) == 0;

    public Extended80 Negate() => new(Significand, (ushort)(SignExponent ^ 0x8000));
    public Extended80 Abs() => new(Significand, (ushort)(SignExponent & 0x7FFF));
    public Extended80 Quieted() => new(Significand | QuietBit, SignExponent);

    public static Extended80 Zero(bool negative) => new(0, negative ? (ushort)0x8000 : (ushort)0);
    public static Extended80 Infinity(bool negative) => new(IntegerBit, (ushort)(negative ? 0xFFFF : 0x7FFF));
    public static Extended80 One => new(IntegerBit, Bias);

    /// <summary>A finite nonzero value as significand (integer bit set) times 2^(exponent - Bias - 63), denormals normalized.</summary>
    internal void Unpack(out ulong significand, out int exponent)
    {
        significand = Significand;
        exponent = Exponent == 0 ? 1 : Exponent;
        int shift = BitOperations.LeadingZeroCount(significand);
        significand <<= shift;
        exponent -= shift;
    }

    public static Extended80 FromInt64(long value)
    {
        if (value == 0) return Zero(false);
        ulong magnitude = value < 0 ? (ulong)-value : (ulong)value;
        int shift = BitOperations.LeadingZeroCount(magnitude);
        return new(magnitude << shift, (ushort)((value < 0 ? 0x8000 : 0) | (Bias + 63 - shift)));
    }

    /// <summary>Widens a binary32 exactly; signaling NaNs stay signaling so the consumer can report them.</summary>
    public static Extended80 FromBinary32(uint bits, out bool denormal) => FromBinary(bits, 23, 8, out denormal);

    /// <summary>Widens a binary64 exactly; signaling NaNs stay signaling so the consumer can report them.</summary>
    public static Extended80 FromBinary64(ulong bits, out bool denormal) => FromBinary(bits, 52, 11, out denormal);

    private static Extended80 FromBinary(ulong bits, int fractionBits, int exponentBits, out bool denormal)
    {
        bool negative = ((bits >> (fractionBits + exponentBits)) & 1) != 0;
        int maxExponent = (1 << exponentBits) - 1;
        int bias = maxExponent >> 1;
        int exponent = (int)((bits >> fractionBits) & (ulong)maxExponent);
        ulong fraction = bits & ((1UL << fractionBits) - 1);
        ushort sign = negative ? (ushort)0x8000 : (ushort)0;
        denormal = false;
        if (exponent == maxExponent)
            return new(IntegerBit | (fraction << (63 - fractionBits)), (ushort)(sign | MaxExponent));
        if (exponent == 0)
        {
            if (fraction == 0) return new(0, sign);
            denormal = true;
            int shift = BitOperations.LeadingZeroCount(fraction);
            // The fraction's lowest bit is worth 2^(1 - bias - fractionBits).
            return new(fraction << shift, (ushort)(sign | (1 - bias - fractionBits + 63 - shift + Bias)));
        }
        return new(IntegerBit | (fraction << (63 - fractionBits)), (ushort)(sign | (exponent - bias + Bias)));
    }

    /// <summary>Approximate conversion for the transcendental instructions, whose last bits differ between processors anyway.</summary>
    public double ToDoubleApproximately()
    {
        if (IsNaN || IsUnsupported) return double.NaN;
        if (IsInfinity) return Sign ? double.NegativeInfinity : double.PositiveInfinity;
        if (IsZero) return Sign ? -0.0 : 0.0;
        Unpack(out ulong significand, out int exponent);
        double magnitude = Math.ScaleB(significand, exponent - Bias - 63);
        return Sign ? -magnitude : magnitude;
    }

    public override string ToString() => $"{SignExponent:X4}:{Significand:X16}";
}
