namespace KvmSharp.Soft.Tests.Differential;

/// <summary>
/// Initial XMM contents for SSE sequences: floating-point values where IEEE arithmetic has its edges (zeros, denormals,
/// the normal range's ends, infinities, quiet and signalling NaNs with payloads, halfway cases, integer-conversion
/// limits), ordinary values whose results are inexact, and integer patterns.
/// </summary>
public static class SseValues
{
    private static readonly uint[] s_singles =
    [
        0x0000_0000, 0x8000_0000, 0x3F80_0000, 0xBF80_0000, 0x3F00_0000, 0x4020_0000, 0x3EAA_AAAB, 0x3DCC_CCCD,
        0x7F7F_FFFF, 0xFF7F_FFFF, 0x0080_0000, 0x8080_0000, 0x0000_0001, 0x007F_FFFF, 0x8040_0000, 0x0040_0000,
        0x7F80_0000, 0xFF80_0000, 0x7FC0_0000, 0xFFC0_0000, 0x7FC1_2345, 0x7F80_0001, 0xFFA0_0000, 0x7FBF_FFFF,
        0x4F00_0000, 0xCF00_0000, 0x4EFF_FFFF, 0x5F00_0000, 0xDF00_0000, 0x4B80_0001, 0x3F7F_FFFF, 0x7E80_0000,
        0x0100_0000, 0x3F40_0000, 0x4040_0000, 0xC0A0_0000,
    ];

    private static readonly ulong[] s_doubles =
    [
        0x0000_0000_0000_0000, 0x8000_0000_0000_0000, 0x3FF0_0000_0000_0000, 0xBFF0_0000_0000_0000, 0x3FE0_0000_0000_0000,
        0x4004_0000_0000_0000, 0x3FD5_5555_5555_5555, 0x3FB9_9999_9999_999A, 0x7FEF_FFFF_FFFF_FFFF, 0xFFEF_FFFF_FFFF_FFFF,
        0x0010_0000_0000_0000, 0x8010_0000_0000_0000, 0x0000_0000_0000_0001, 0x000F_FFFF_FFFF_FFFF, 0x8008_0000_0000_0000,
        0x7FF0_0000_0000_0000, 0xFFF0_0000_0000_0000, 0x7FF8_0000_0000_0000, 0xFFF8_0000_0000_0000, 0x7FF8_0000_1234_5678,
        0x7FF0_0000_0000_0001, 0xFFF4_0000_0000_0000, 0x7FF7_FFFF_FFFF_FFFF, 0x43E0_0000_0000_0000, 0xC3E0_0000_0000_0000,
        0x41E0_0000_0000_0000, 0xC1E0_0000_0000_0000, 0x41DF_FFFF_FFE0_0000, 0xC1E0_0000_0010_0000, 0x47EF_FFFF_E000_0000,
        0x47EF_FFFF_F000_0000, 0x47F0_0000_0000_0000, 0x3810_0000_0000_0000, 0x380F_FFFF_F000_0000, 0x36A0_0000_0000_0000,
        0x3690_0000_0000_0000, 0x3FF0_0000_1000_0000, 0x3FF0_0000_0800_0000, 0x7FE0_0000_0000_0000, 0x0020_0000_0000_0000,
    ];

    /// <summary>A single-precision value: from the edge table, or a random one near 1 (so that results are inexact but finite).</summary>
    public static uint Single(SplitMix64 rng) => rng.Below(100) switch
    {
        < 55 => rng.Pick(s_singles),
        < 85 => (uint)((rng.Next() & 0x8000_0000) | (uint)(0x7F - 8 + rng.Below(17)) << 23 | (uint)(rng.Next() & 0x7F_FFFF)),
        _ => (uint)rng.Next(),
    };

    public static ulong Double(SplitMix64 rng) => rng.Below(100) switch
    {
        < 55 => rng.Pick(s_doubles),
        < 85 => (rng.Next() & 0x8000_0000_0000_0000) | (ulong)(0x3FF - 8 + rng.Below(17)) << 52 | (rng.Next() & 0xF_FFFF_FFFF_FFFF),
        _ => rng.Next(),
    };

    /// <summary>The 16 XMM registers as 32 little-endian quadwords, rebuilt from <paramref name="seed"/> (0: all zero).</summary>
    public static ulong[] Registers(ulong seed)
    {
        var xmm = new ulong[32];
        if (seed == 0) return xmm;
        var rng = new SplitMix64(seed);
        for (int i = 0; i < xmm.Length; i++)
        {
            xmm[i] = rng.Below(100) switch
            {
                < 35 => Single(rng) | (ulong)Single(rng) << 32,
                < 70 => Double(rng),
                < 85 => rng.Interesting(),
                _ => rng.Next(),
            };
        }
        return xmm;
    }

    /// <summary>The power-on MXCSR: round to nearest, every exception masked, no flag set.</summary>
    public const uint DefaultMxcsr = 0x1F80;

    /// <summary>
    /// An MXCSR for a sequence: mostly the default, else any rounding mode, DAZ and FTZ, some flags already set, and now and
    /// then unmasked exceptions (which raise #XM, CR4.OSXMMEXCPT being set). Bits above 15 are reserved on both kernels.
    /// </summary>
    public static uint Mxcsr(SplitMix64 rng)
    {
        if (rng.Chance(50)) return DefaultMxcsr;
        uint value = DefaultMxcsr;
        value = (value & ~0x6000u) | (uint)rng.Below(4) << 13;
        if (rng.Chance(30)) value |= 0x40; // DAZ
        if (rng.Chance(30)) value |= 0x8000; // FTZ
        if (rng.Chance(20)) value |= (uint)rng.Below(64);
        if (rng.Chance(25)) value &= ~((uint)rng.Below(64) << 7);
        return value;
    }
}
