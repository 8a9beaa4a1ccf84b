using KvmSharp;
using KvmSharp.PlatformBench;
using KvmSharp.Vmm;

// Usage: KvmSharp.PlatformBench [--kernels host,soft] [--samples N] [--quick]
// Prints a Markdown table: each workload's median (and p99 or best) on each
// kernel, and the ratio Soft/Host of the medians.
string[] kernels = ["host", "soft"];
int samples = 1000;
bool quick = false;
for (int i = 0; i < args.Length; i++)
{
    switch (args[i])
    {
        case "--kernels" when i + 1 < args.Length:
            kernels = args[++i].Split(',', StringSplitOptions.RemoveEmptyEntries);
            break;
        case "--samples" when i + 1 < args.Length && int.TryParse(args[i + 1], out int n) && n > 0:
            samples = n;
            i++;
            break;
        case "--quick":
            quick = true;
            break;
        default:
            Console.Error.WriteLine($"Unknown or incomplete option '{args[i]}'. Usage: KvmSharp.PlatformBench [--kernels host,soft] [--samples N] [--quick]");
            return 2;
    }
}
if (kernels.Except(["host", "soft"]).FirstOrDefault() is string unknown)
{
    Console.Error.WriteLine($"Unknown kernel '{unknown}': choose host, soft or both.");
    return 2;
}

int batches = quick ? 5 : 15, rounds = quick ? 200 : 1000, windows = quick ? 2 : 5;
var window = TimeSpan.FromSeconds(quick ? 1 : 2);
var rows = new List<(string Name, string Unit, string Spread, Dictionary<string, Samples> ByKernel)>
{
    ("irqfd write → guest handler, vCPU halted", "µs", "p99", new()),
    ("IPI round trip, both vCPUs halt between", "µs", "best", new()),
    ("idle 4-vCPU guest, nothing pending", "% of a core", "max", new()),
    ($"idle 4-vCPU guest, {IdleCpu.TickHz} Hz LAPIC tick each", "% of a core", "max", new()),
};
foreach (string name in kernels)
{
    using var kvm = Kvm.Open(KernelChoice.Open(name));
    Console.Error.WriteLine($"# {name}: irqfd latency ({samples} samples)");
    rows[0].ByKernel[name] = IrqfdLatency.Measure(kvm, samples);
    Console.Error.WriteLine($"# {name}: IPI round trips ({batches} batches of {rounds})");
    rows[1].ByKernel[name] = IpiRoundTrip.Measure(kvm, batches, rounds, halt: true).Scaled(1e-3);
    Console.Error.WriteLine($"# {name}: idle CPU ({windows} windows of {window.TotalSeconds} s)");
    rows[2].ByKernel[name] = IdleCpu.Measure(kvm, windows, window, ticking: false).Percent;
    var (percent, ticksPerSecond) = IdleCpu.Measure(kvm, windows, window, ticking: true);
    rows[3].ByKernel[name] = percent;
    Console.Error.WriteLine($"# {name}: {ticksPerSecond:F0} guest ticks/s taken (expected {IdleCpu.Vcpus * IdleCpu.TickHz})");
}

bool both = kernels.Length == 2;
Console.WriteLine($"| workload | unit | {string.Join(" | ", kernels.Select(k => $"{k} median | {k} spread"))} |{(both ? " Soft/Host |" : "")}");
Console.WriteLine($"|---|---|{string.Concat(kernels.Select(_ => "---:|---:|"))}{(both ? "---:|" : "")}");
foreach (var (name, unit, spread, byKernel) in rows)
{
    string Cells(Samples s) => $"{s.Median:F1} | {spread} {(spread switch { "p99" => s.Percentile(99), "best" => s.Best, _ => s.Percentile(100) }):F1}";
    string ratio = both ? (byKernel["host"].Median > 0 ? $" {byKernel["soft"].Median / byKernel["host"].Median:F2} |" : " – |") : "";
    Console.WriteLine($"| {name} | {unit} | {string.Join(" | ", kernels.Select(k => Cells(byKernel[k])))} |{ratio}");
}
Console.WriteLine("# spread: p99 of the latencies, the best batch of round trips, the worst idle window; Soft/Host is the ratio of the medians.");
return 0;
