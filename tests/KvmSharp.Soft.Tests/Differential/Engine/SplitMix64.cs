namespace KvmSharp.Soft.Tests.Differential;

/// <summary>
/// A tiny seeded generator whose sequence is fixed forever, so that a seed written
/// into vectors.txt rebuilds the same data page on any .NET version.
/// </summary>
public sealed class SplitMix64(ulong seed)
{
    private ulong _state = seed;

    public ulong Next()
    {
        ulong z = _state += 0x9E3779B97F4A7C15;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EB;
        return z ^ (z >> 31);
    }

    /// <summary>Uniform in [0, bound).</summary>
    public int Below(int bound) => (int)(Next() % (ulong)bound);

    public bool Chance(int percent) => Below(100) < percent;

    public T Pick<T>(IReadOnlyList<T> items) => items[Below(items.Count)];

    /// <summary>A 64-bit value biased towards the edges where ALU bugs live.</summary>
    public ulong Interesting()
    {
        return Below(12) switch
        {
            0 => 0,
            1 => 1,
            2 => ulong.MaxValue,
            3 => 0x8000_0000_0000_0000,
            4 => 0x7FFF_FFFF_FFFF_FFFF,
            5 => Chance(50) ? 0x8000_0000UL : 0x7FFF_FFFFUL,
            6 => (ulong)Below(256),
            7 => 0x80UL << (8 * Below(8)),
            8 => ulong.MaxValue << Below(64),
            9 => Next() & 0xFFFF,
            _ => Next(),
        };
    }
}
