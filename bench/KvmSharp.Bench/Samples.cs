namespace KvmSharp.Bench;

/// <summary>One figure a workload reports, e.g. pio_exit in ns.</summary>
/// <param name="Name">The name in the C peer's output (bench/c/README.md), shared by both peers.</param>
/// <param name="Label">The row's text in the table.</param>
/// <param name="PerRepetition">
/// True when the C peer prints every repetition's value (a "# NAME per repetition" line), so the
/// final figure is the median over all repetitions. False when it prints only a median per run;
/// then each round contributes its median, on both sides alike, and the figure is the median of those.
/// </param>
/// <param name="Target">The largest acceptable KvmSharp/C ratio, when the issue sets one.</param>
/// <param name="CpuTime">
/// True for a figure that no program prints: the CPU time (user + system) a round
/// took, divided by <see cref="Workload.CpuTimeDivisor"/>. The C peer's is its
/// process's (from wait4), KvmSharp's its thread's (from getrusage); both cover
/// the same work. Unlike wall time it does not grow while other load keeps the
/// round off the CPU.
/// </param>
internal sealed record Figure(string Name, string Unit, string Label, bool PerRepetition, double? Target = null, bool CpuTime = false);

/// <summary>The values one peer measured, per figure, over all rounds.</summary>
internal sealed class Samples
{
    private readonly Dictionary<string, List<double>> _values = new();

    public void Add(string figure, double value)
    {
        if (!_values.TryGetValue(figure, out var list))
            _values[figure] = list = new List<double>();
        list.Add(value);
    }

    public void AddRange(string figure, IEnumerable<double> values)
    {
        foreach (double value in values)
            Add(figure, value);
    }

    public IReadOnlyList<double> Values(string figure) =>
        _values.TryGetValue(figure, out var list) ? list : Array.Empty<double>();

    public double? Median(string figure) => Values(figure) is { Count: > 0 } values ? Statistics.Median(values) : null;

    public double? Best(string figure) => Values(figure) is { Count: > 0 } values ? values.Min() : null;
}

internal static class Statistics
{
    /// <summary>The C peer's median: the middle value, or the mean of the two middle ones.</summary>
    public static double Median(IReadOnlyList<double> values)
    {
        if (values.Count == 0)
            throw new ArgumentException("The median of no values.", nameof(values));
        var sorted = values.Order().ToArray();
        int middle = sorted.Length / 2;
        return sorted.Length % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
    }
}
