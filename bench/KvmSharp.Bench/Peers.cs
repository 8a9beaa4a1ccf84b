using System.Globalization;

namespace KvmSharp.Bench;

/// <summary>One side of the comparison: something that runs a round of a workload and reports samples.</summary>
internal interface IPeer
{
    /// <summary>The column header.</summary>
    string Name { get; }

    bool Runs(Workload workload);

    /// <summary>Gets the peer ready for <paramref name="workload"/> (untimed).</summary>
    void WarmUp(Workload workload, BenchSettings settings);

    /// <summary>Runs one round and adds its samples; returns a one-line summary for the log.</summary>
    string RunRound(Workload workload, BenchSettings settings, int repetitions, Samples samples);
}

/// <summary>The C program of bench/c (kvmbench), one process per round; its output format is in bench/c/README.md.</summary>
internal sealed class CPeer(string program) : IPeer
{
    private const string PerRepetitionMarker = " per repetition (";

    public string Name => "C";

    public string Program { get; } = program;

    public bool Runs(Workload workload) => workload.HasCPeer;

    // A compiled C program has nothing to warm up; each run warms its own VM.
    public void WarmUp(Workload workload, BenchSettings settings)
    {
    }

    public string RunRound(Workload workload, BenchSettings settings, int repetitions, Samples samples)
    {
        var arguments = workload.CPeerArguments(settings, repetitions);
        var (output, cpuNanoseconds) = Run(arguments);
        var perRepetition = new Dictionary<string, double[]>();
        var medians = new Dictionary<string, double>();
        foreach (string line in output.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            if (line.StartsWith('#'))
            {
                // "# NAME per repetition (UNIT): v1 v2 ..."
                int marker = line.IndexOf(PerRepetitionMarker, StringComparison.Ordinal);
                int colon = line.IndexOf("): ", StringComparison.Ordinal);
                if (marker > 2 && colon > marker)
                    perRepetition[line[2..marker]] = line[(colon + 3)..].Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(Parse).ToArray();
                continue;
            }
            string[] fields = line.Split(' ');
            if (fields.Length == 3)
                medians[fields[0]] = Parse(fields[1]);
        }

        var adapted = workload.AdaptCPeerMedians(medians);
        foreach (Figure figure in workload.Figures)
        {
            if (figure.CpuTime)
                samples.Add(figure.Name, cpuNanoseconds / workload.CpuTimeDivisor(settings, repetitions) * UnitsPerNanosecond(figure.Unit));
            else if (figure.PerRepetition)
            {
                if (!perRepetition.TryGetValue(figure.Name, out var values) || values.Length != repetitions)
                    throw new BenchException($"{Program} {string.Join(' ', arguments)}: no per-repetition values of {figure.Name} in its output");
                samples.AddRange(figure.Name, values);
            }
            else if (adapted.TryGetValue(figure.Name, out double median))
                samples.Add(figure.Name, median);
            else
                throw new BenchException($"{Program} {string.Join(' ', arguments)}: no {figure.Name} in its output");
        }
        return string.Join("; ", output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(l => !l.StartsWith('#')));
    }

    private static double Parse(string text) => double.Parse(text, NumberStyles.Float, CultureInfo.InvariantCulture);

    private (string Output, double CpuNanoseconds) Run(IReadOnlyList<string> arguments)
    {
        var child = LeanSpawn.Run(Program, arguments);
        if (child.ExitCode != 0)
            throw new BenchException($"{Program} {string.Join(' ', arguments)} exited with {child.ExitCode} (its error is above)");
        return (child.Output, child.CpuNanoseconds);
    }

    internal static double UnitsPerNanosecond(string unit) => unit switch
    {
        "ns" => 1,
        "us" => 1e-3,
        "ms" => 1e-6,
        _ => throw new ArgumentException($"Not a time unit: {unit}", nameof(unit)),
    };
}

/// <summary>KvmSharp's typed API on one kernel, in this process.</summary>
internal sealed class KvmSharpPeer(Kvm kvm) : IPeer
{
    private readonly HashSet<string> _warm = new();

    // The host kernel is the plain "KvmSharp" column; another kernel says which.
    public string Name => Kvm.Kernel.Name == "host" ? "KvmSharp" : $"KvmSharp {Kvm.Kernel.Name}";

    public Kvm Kvm { get; } = kvm;

    public bool Runs(Workload workload) => true;

    // The C peer is compiled ahead of time; this warm-up is this side's compile
    // step (JIT tiers, first-call stubs), so that rounds measure steady state as the C side does.
    public void WarmUp(Workload workload, BenchSettings settings)
    {
        if (_warm.Add(workload.Name))
            workload.WarmUpKvmSharp(Kvm, settings);
    }

    public string RunRound(Workload workload, BenchSettings settings, int repetitions, Samples samples)
    {
        var round = new Samples();
        double cpuStart = ThreadCpu.Nanoseconds();
        workload.RunKvmSharp(Kvm, settings, repetitions, round);
        double cpuNanoseconds = ThreadCpu.Nanoseconds() - cpuStart;
        var parts = new List<string>();
        foreach (Figure figure in workload.Figures)
        {
            if (figure.CpuTime)
                round.Add(figure.Name, cpuNanoseconds / workload.CpuTimeDivisor(settings, repetitions) * CPeer.UnitsPerNanosecond(figure.Unit));
            var values = round.Values(figure.Name);
            samples.AddRange(figure.Name, values);
            parts.Add(string.Create(CultureInfo.InvariantCulture, $"{figure.Name} {Statistics.Median(values):F1} {figure.Unit}"));
        }
        return string.Join("; ", parts);
    }
}
