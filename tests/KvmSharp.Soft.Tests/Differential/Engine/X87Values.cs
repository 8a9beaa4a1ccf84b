namespace KvmSharp.Soft.Tests.Differential;

/// <summary>
/// The x87 register file as FXSAVE/XSAVE hold it (FCW, FSW, the abridged tag word, ST0-7 as 80-bit values in stack
/// order), and initial states for differential cases: values where extended-precision arithmetic has its edges
/// (zeros, denormals, the range's ends, infinities, quiet and signalling NaNs, the indefinite), ordinary values whose
/// results are inexact, and now and then a non-default control word or stack top.
/// </summary>
public sealed record X87State(ushort Fcw, ushort Fsw, byte Ftw, ulong[] Significands, ushort[] SignExponents)
{
    public const ushort DefaultFcw = 0x037F;

    /// <summary>After FNINIT: every exception masked, 64-bit precision, round to nearest, empty stack.</summary>
    public static X87State Default => new(DefaultFcw, 0, 0, new ulong[8], new ushort[8]);

    public bool SameAs(X87State other) =>
        Fcw == other.Fcw && Fsw == other.Fsw && Ftw == other.Ftw
        && Significands.AsSpan().SequenceEqual(other.Significands) && SignExponents.AsSpan().SequenceEqual(other.SignExponents);

    /// <summary>ST(i) as one 80-bit hex number (sign and exponent first).</summary>
    public string RegisterText(int index) => $"0x{SignExponents[index]:x4}{Significands[index]:x16}";

    private static readonly (ushort SignExponent, ulong Significand)[] s_edges =
    [
        (0x0000, 0), (0x8000, 0), (0x3FFF, 0x8000_0000_0000_0000), (0xBFFF, 0x8000_0000_0000_0000),
        (0x3FFE, 0x8000_0000_0000_0000), (0x4000, 0xC000_0000_0000_0000), (0x3FFD, 0xAAAA_AAAA_AAAA_AAAB),
        (0x7FFE, 0xFFFF_FFFF_FFFF_FFFF), (0xFFFE, 0xFFFF_FFFF_FFFF_FFFF), (0x0001, 0x8000_0000_0000_0000),
        (0x0000, 0x0000_0000_0000_0001), (0x0000, 0x7FFF_FFFF_FFFF_FFFF), (0x7FFF, 0x8000_0000_0000_0000),
        (0xFFFF, 0x8000_0000_0000_0000), (0x7FFF, 0xC000_0000_0000_0000), (0xFFFF, 0xC000_0000_0000_0000),
        (0x7FFF, 0xC000_0000_1234_5678), (0x7FFF, 0x8000_0000_0000_0001), (0xFFFF, 0xA000_0000_0000_0000),
        (0x403E, 0x8000_0000_0000_0000), (0xC03E, 0x8000_0000_0000_0000), (0x401E, 0xFFFF_FFFF_0000_0000),
        (0x400E, 0xFFFF_0000_0000_0000), (0x43FE, 0xFFFF_FFFF_FFFF_F800), (0x407E, 0xFFFF_FF00_0000_0000),
        (0x3C01, 0x8000_0000_0000_0000), (0x3F81, 0x8000_0000_0000_0000), (0x3FFF, 0x8000_0000_0000_0400),
        (0x3FFF, 0x8000_0000_0000_0001), (0x4000, 0xC90F_DAA2_2168_C235),
    ];

    /// <summary>An initial x87 state rebuilt from <paramref name="seed"/> (0: the default state).</summary>
    public static X87State Initial(ulong seed)
    {
        if (seed == 0) return Default;
        var rng = new SplitMix64(seed ^ 0x8787_8787_8787_8787);
        var significands = new ulong[8];
        var signExponents = new ushort[8];
        for (int i = 0; i < 8; i++)
        {
            switch (rng.Below(100))
            {
                case < 50:
                    (signExponents[i], significands[i]) = rng.Pick(s_edges);
                    break;
                case < 90:
                    // Near 1, with every significand bit random: most results of arithmetic on these are inexact.
                    signExponents[i] = (ushort)((rng.Chance(50) ? 0x8000 : 0) | (0x3FFF - 8 + rng.Below(17)));
                    significands[i] = rng.Next() | 0x8000_0000_0000_0000;
                    break;
                default:
                    signExponents[i] = (ushort)((rng.Chance(50) ? 0x8000 : 0) | rng.Below(0x7FFF));
                    significands[i] = rng.Next() | 0x8000_0000_0000_0000;
                    break;
            }
        }
        // Mostly a full stack (so that arithmetic has operands) at a random top; sometimes a partly empty one.
        byte tags = rng.Chance(70) ? (byte)0xFF : (byte)rng.Next();
        int top = rng.Below(8);
        ushort fcw = DefaultFcw;
        if (rng.Chance(50))
        {
            fcw = (ushort)(0x0040 | (rng.Below(4) << 10) | (rng.Pick(PrecisionControls) << 8) | 0x3F);
            if (rng.Chance(15)) fcw &= (ushort)~(1 << rng.Below(6));
        }
        for (int i = 0; i < 8; i++)
        {
            // FXSAVE stores ST(i); the tag bits are per physical register, ST(i) being register (TOP + i) mod 8.
            if ((tags & (1 << ((top + i) & 7))) == 0) (signExponents[i], significands[i]) = (0, 0);
        }
        return new X87State(fcw, (ushort)(top << 11), tags, significands, signExponents);
    }

    private static readonly int[] PrecisionControls = [0, 2, 3];
}
