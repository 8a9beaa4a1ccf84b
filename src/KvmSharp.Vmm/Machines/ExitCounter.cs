using KvmSharp.Abi;

namespace KvmSharp.Vmm.Machines;

/// <summary>Exits of a run counted by reason, for the summary users see.</summary>
public sealed class ExitCounter
{
    private readonly long[] _counts = new long[64];

    public void Count(KvmExitReason reason) => _counts[(int)reason & 63]++;

    public long this[KvmExitReason reason] => _counts[(int)reason & 63];

    public long Total => _counts.Sum();

    /// <summary>The reasons that occurred, most frequent first.</summary>
    public IEnumerable<(KvmExitReason Reason, long Count)> NonZero() =>
        Enumerable.Range(0, _counts.Length).Where(i => _counts[i] > 0)
            .Select(i => ((KvmExitReason)i, _counts[i])).OrderByDescending(p => p.Item2);
}
