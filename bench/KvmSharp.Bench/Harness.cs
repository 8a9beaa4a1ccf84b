using System.Globalization;

namespace KvmSharp.Bench;

/// <summary>
/// Runs each workload in rounds that alternate the peers, then prints the table.
/// </summary>
/// <remarks>
/// A plain harness rather than BenchmarkDotNet: the comparison is with a C
/// program in another process, and it is only fair if both sides are measured the
/// same way. So this harness reproduces the C peer's methodology exactly (its
/// warm-up, its repetitions, its clock, its median) and alternates the two peers
/// round by round, C first in odd rounds and KvmSharp first in even ones, so that
/// the load of the other engineers on the shared cores falls on both. BenchmarkDotNet
/// would time only the C# side, with its own statistics.
/// </remarks>
/// <param name="judgeTargets">Whether the issue's targets apply: they are set for KvmSharp on the host kernel against C.</param>
internal sealed class Harness(IReadOnlyList<IPeer> peers, BenchSettings settings, TextWriter output, bool judgeTargets)
{
    public IReadOnlyList<(Workload Workload, IReadOnlyList<Samples> Samples)> Run(IEnumerable<Workload> workloads)
    {
        var results = new List<(Workload, IReadOnlyList<Samples>)>();
        foreach (Workload workload in workloads)
        {
            int repetitions = settings.Repetitions ?? workload.DefaultRepetitions;
            var samples = peers.Select(_ => new Samples()).ToArray();
            foreach (IPeer peer in peers.Where(p => p.Runs(workload)))
                peer.WarmUp(workload, settings);
            int round = 0;
            for (int done = 0; done < repetitions; round++)
            {
                int block = Math.Min(workload.RepetitionsPerRound, repetitions - done);
                for (int j = 0; j < peers.Count; j++)
                {
                    int p = round % 2 == 0 ? j : peers.Count - 1 - j;
                    if (!peers[p].Runs(workload))
                        continue;
                    string summary = peers[p].RunRound(workload, settings, block, samples[p]);
                    output.WriteLine($"# {workload.Name} round {round + 1} ({block} reps) {peers[p].Name}: {summary}");
                }
                done += block;
            }
            foreach (Figure figure in workload.Figures.Where(f => f.PerRepetition))
                for (int p = 0; p < peers.Count; p++)
                    if (peers[p].Runs(workload))
                        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"# {figure.Name} per repetition ({figure.Unit}) {peers[p].Name}: {string.Join(' ', samples[p].Values(figure.Name).Select(v => v.ToString("F1", CultureInfo.InvariantCulture)))}"));
            output.Flush();
            results.Add((workload, samples));
        }
        return results;
    }

    /// <summary>
    /// A Markdown table: one row per figure; per peer its median (the figure) and
    /// its best value; the ratio of the second peer (KvmSharp) to the first (C) for
    /// both, and the target, judged on the medians. Two steadier ratios when other load
    /// on the shared cores disturbs single repetitions: "paired", the median of the
    /// ratios of repetitions run next to each other (the same round, the same
    /// position), which cancels load that changes slower than a round; and the ratio
    /// of the best values.
    /// </summary>
    public void PrintTable(IReadOnlyList<(Workload Workload, IReadOnlyList<Samples> Samples)> results)
    {
        bool ratio = peers.Count == 2;
        var header = new List<string> { "workload", "unit" };
        header.AddRange(peers.Select(p => p.Name));
        if (ratio)
            header.AddRange([$"{peers[1].Name}/{peers[0].Name}", "paired"]);
        header.AddRange(peers.Select(p => $"{p.Name} best"));
        if (ratio)
            header.AddRange(["ratio of best", "target"]);
        output.WriteLine($"| {string.Join(" | ", header)} |");
        output.WriteLine($"|{string.Join("|", header.Select((_, i) => i < 2 ? "---" : "---:"))}|");
        foreach (var (workload, samples) in results)
        {
            foreach (Figure figure in workload.Figures)
            {
                var medians = samples.Select(s => s.Median(figure.Name)).ToArray();
                var bests = samples.Select(s => s.Best(figure.Name)).ToArray();
                var cells = new List<string> { figure.Label, figure.Unit };
                cells.AddRange(medians.Select(FormatValue));
                double? quotient = ratio ? Quotient(medians[1], medians[0]) : null;
                if (ratio)
                    cells.AddRange([FormatRatio(quotient), FormatRatio(PairedRatio(samples[0].Values(figure.Name), samples[1].Values(figure.Name)))]);
                cells.AddRange(bests.Select(FormatValue));
                if (ratio)
                {
                    cells.Add(FormatRatio(Quotient(bests[1], bests[0])));
                    cells.Add(figure.Target is not { } target || !judgeTargets ? ""
                        : quotient is not { } r ? $"≤ {target:F2}"
                        : $"≤ {target:F2} {(r <= target ? "met" : "MISSED")}");
                }
                output.WriteLine($"| {string.Join(" | ", cells)} |");
            }
        }
        output.Flush();
    }

    // Both peers add their values round by round in the same order, so equal indices ran side by side.
    private static double? PairedRatio(IReadOnlyList<double> first, IReadOnlyList<double> second)
    {
        if (first.Count == 0 || first.Count != second.Count)
            return null;
        var ratios = first.Zip(second).Where(p => p.First > 0).Select(p => p.Second / p.First).ToArray();
        return ratios.Length > 0 ? Statistics.Median(ratios) : null;
    }

    private static double? Quotient(double? numerator, double? denominator) =>
        numerator is { } n && denominator is > 0 and { } d ? n / d : null;

    private static string FormatRatio(double? ratio) =>
        ratio is { } r ? r.ToString("F3", CultureInfo.InvariantCulture) : "-";

    private static string FormatValue(double? value) => value is { } v ? Format(v) : "-";

    private static string Format(double value) =>
        value.ToString(value >= 100 ? "N0" : "N1", CultureInfo.InvariantCulture);
}
