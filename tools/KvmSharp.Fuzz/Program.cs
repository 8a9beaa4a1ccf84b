using System.Diagnostics;
using System.Globalization;
using KvmSharp.Soft.Tests.Differential;

namespace KvmSharp.Fuzz;

/// <summary>
/// kvmsharp-fuzz: random user-mode sequences on Host and Soft for a while; each new
/// kind of mismatch is minimized and appended to vectors.txt as a marked regression vector.
/// </summary>
public static class Program
{
    private const string Usage =
        "usage: kvmsharp-fuzz [--minutes M] [--count N] [--seed S] [--mode 64|32|pm32|pm16|cm16|rm16] [--max-groups G] [--vectors PATH] [--mask-flags BITS] [--dry-run] [--verbose]\n" +
        "  --minutes M   run for M minutes (default 1; decimals allowed)\n" +
        "  --count N     stop after N sequences instead\n" +
        "  --seed S      generator seed (default: random, printed)\n" +
        "  --mode        64 (long mode, CPL 3; default), 32 (compatibility mode, CPL 3), pm32 (32-bit protected mode\n" +
        "                without paging, CPL 3), pm16 (16-bit code and stack segments in protected mode, CPL 3), cm16\n" +
        "                (the same 16-bit segments in compatibility mode, paged, CPL 3) or rm16\n" +
        "                (real mode, segment bases at the code and data pages)\n" +
        "  --vectors     the vectors file (default: tests/KvmSharp.Soft.Tests/Differential/vectors.txt of the repository around the current directory)\n" +
        "  --mask-flags  RFLAGS bits to leave out of comparisons, to look past a known bug (e.g. 0x10000)\n" +
        "  --dry-run     print new vectors instead of appending them\n" +
        "  --probe HEX   run one sequence (instructions as hex, comma-separated) on both kernels, print both outcomes,\n" +
        "                and append it as a vector when they differ (unless --dry-run)\n" +
        "  --stats       print how often each mnemonic was generated and how the runs ended on Host";

    public static int Main(string[] args)
    {
        double minutes = 1;
        long count = long.MaxValue;
        ulong seed = (ulong)Random.Shared.NextInt64();
        var mode = GuestMode.Long64;
        int maxGroups = 16;
        string? vectorsPath = null;
        bool dryRun = false, verbose = false;
        ulong maskFlags = 0;
        string? probe = null;
        bool stats = false;
        try
        {
            for (int i = 0; i < args.Length; i++)
            {
                string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value.");
                switch (args[i])
                {
                    case "--minutes": minutes = double.Parse(Value(), CultureInfo.InvariantCulture); break;
                    case "--count": count = long.Parse(Value(), CultureInfo.InvariantCulture); break;
                    case "--seed": seed = ParseNumber(Value()); break;
                    case "--mode": mode = ParseMode(Value()); break;
                    case "--max-groups": maxGroups = int.Parse(Value(), CultureInfo.InvariantCulture); break;
                    case "--vectors": vectorsPath = Value(); break;
                    case "--mask-flags": maskFlags = ParseNumber(Value()); break;
                    case "--dry-run": dryRun = true; break;
                    case "--probe": probe = Value(); break;
                    case "--stats": stats = true; break;
                    case "--verbose": verbose = true; break;
                    case "-h" or "--help": Console.WriteLine(Usage); return 0;
                    default: throw new ArgumentException($"Unknown argument {args[i]}.");
                }
            }
            vectorsPath ??= DefaultVectorsPath();
        }
        catch (Exception e) when (e is ArgumentException or FormatException or OverflowException or FileNotFoundException)
        {
            Console.Error.WriteLine($"error: {e.Message}\n{Usage}");
            return 2;
        }
        if (!HostKernelFactory.IsAvailable)
        {
            Console.Error.WriteLine("error: /dev/kvm cannot be opened; there is no hardware to compare against.");
            return 1;
        }

        if (probe is not null)
            return Probe(probe, mode, dryRun ? null : vectorsPath);

        var existing = File.Exists(vectorsPath) ? RegressionVector.Load(vectorsPath) : [];
        // Only marked vectors excuse a mismatch: one with the signature of a vector Soft now passes is a new bug (or a
        // regression) and is reported and written like any other.
        var signatures = existing.Where(v => v.KnownMismatch is not null).Select(v => v.Signature).ToHashSet();
        var names = existing.Select(v => v.Name).ToHashSet();
        Console.WriteLine($"# seed 0x{seed:x} mode {mode.Tag()} for {(count == long.MaxValue ? $"{minutes} min" : $"{count} sequences")}; {existing.Count} vectors in {vectorsPath}");

        using var runner = new DifferentialRunner { ExtraIgnoredFlags = maskFlags };
        var generator = new SequenceGenerator(seed, mode);
        var clock = Stopwatch.StartNew();
        var histogram = new Dictionary<string, long>();
        var ends = new Dictionary<string, long>();
        var deadline = TimeSpan.FromMinutes(minutes);
        long sequences = 0, mismatches = 0, written = 0;
        while (sequences < count && (count != long.MaxValue || clock.Elapsed < deadline))
        {
            var test = generator.Next(maxGroups);
            if (stats)
                foreach (var step in FlagAnalysis.Analyze(test.Code, test.Bitness))
                    histogram[step.Instruction.Mnemonic.ToString()] = histogram.GetValueOrDefault(step.Instruction.Mnemonic.ToString()) + 1;
            var comparison = runner.Compare(test);
            sequences++;
            if (stats)
            {
                string end = comparison.Host.Kind == OutcomeKind.Exception ? $"exception{comparison.Host.Vector}" : comparison.Host.Kind.ToString().ToLowerInvariant();
                ends[end] = ends.GetValueOrDefault(end) + 1;
            }
            if (comparison.Matches) continue;
            mismatches++;
            var minimal = runner.Minimize(comparison);
            var vector = new RegressionVector(RegressionVector.NameFor(minimal), minimal.Test, minimal.Host,
                $"undiagnosed: {minimal.Differences[0]}");
            if (verbose || !signatures.Contains(vector.Signature))
                Console.WriteLine($"sequence {sequences}: {vector.Name}: {string.Join("; ", minimal.Differences)}");
            if (!signatures.Add(vector.Signature) || !names.Add(vector.Name)) continue;
            written++;
            if (dryRun) Console.WriteLine(vector.Format());
            else File.AppendAllText(vectorsPath, vector.Format() + "\n");
        }
        if (stats)
        {
            Console.WriteLine("# host ends: " + string.Join(" ", ends.OrderByDescending(p => p.Value).Select(p => $"{p.Key}:{p.Value}")));
            Console.WriteLine("# " + string.Join(" ", histogram.OrderByDescending(p => p.Value).Select(p => $"{p.Key.ToLowerInvariant()}:{p.Value}")));
        }
        Console.WriteLine($"sequences {sequences} runs {runner.Runs} instructions {runner.Instructions} kvm-pvm-artefacts {runner.Incomparable} mismatching {mismatches} new-vectors {written} seconds {clock.Elapsed.TotalSeconds:F1}");
        return 0;
    }

    private static int Probe(string hex, GuestMode mode, string? vectorsPath)
    {
        var gprs = new ulong[TestCase.GprCount];
        gprs[4] = DiffMachine.StackTop(mode.Bitness());
        if (mode == GuestMode.Long64) gprs[15] = DiffMachine.DataAddress;
        var test = new TestCase(mode, 1, gprs, 0x3002, hex.Split(',').Select(Convert.FromHexString).ToList());
        using var runner = new DifferentialRunner();
        var comparison = runner.Compare(test);
        Console.WriteLine($"host: {comparison.Host}");
        Console.WriteLine($"soft: {comparison.Soft}");
        Console.WriteLine(comparison.Matches ? "same" : string.Join("; ", comparison.Differences));
        if (!comparison.Matches && vectorsPath is not null)
        {
            var vector = new RegressionVector(RegressionVector.NameFor(comparison), test, comparison.Host, $"undiagnosed: {comparison.Differences[0]}");
            File.AppendAllText(vectorsPath, vector.Format() + "\n");
            Console.WriteLine($"appended {vector.Name} to {vectorsPath}");
        }
        return 0;
    }

    private static GuestMode ParseMode(string tag)
    {
        try { return GuestModes.Parse(tag); }
        catch (FormatException e) { throw new ArgumentException(e.Message); }
    }

    private static ulong ParseNumber(string text) => text.StartsWith("0x", StringComparison.OrdinalIgnoreCase)
        ? ulong.Parse(text[2..], NumberStyles.HexNumber, CultureInfo.InvariantCulture)
        : ulong.Parse(text, CultureInfo.InvariantCulture);

    private static string DefaultVectorsPath()
    {
        for (var dir = new DirectoryInfo(Environment.CurrentDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "KvmSharp.sln")))
                return Path.Combine(dir.FullName, "tests", "KvmSharp.Soft.Tests", "Differential", "vectors.txt");
        throw new FileNotFoundException("No KvmSharp.sln above the current directory; pass --vectors.");
    }
}
