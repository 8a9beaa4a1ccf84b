using System.CommandLine;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using KvmSharp;
using KvmSharp.Bench;
using KvmSharp.Kernel;

const int UsageError = 2;

Workload[] workloads = [new CreateWorkload(), new PioWorkload(), new MmioWorkload(), new ImmediateExitWorkload(), new OverheadWorkload()];
string[] peerNames = ["c", "kvmsharp"];

var only = new Option<string[]>("--only")
{
    Description = $"Workloads to run, comma-separated or repeated: {string.Join(", ", workloads.Select(w => w.Name))} (default: all).",
    AllowMultipleArgumentsPerToken = true,
};
var exits = new Option<long>("--exits", "-n")
{
    Description = "N: exits (KVM_RUN calls) per repetition of pio, mmio and immediate.",
    DefaultValueFactory = _ => 1_000_000,
};
var repetitions = new Option<int?>("--reps", "-r")
{
    Description = "Repetitions per peer (median reported); default: the C peer's (create 100, the others 3).",
};
var kernel = new Option<string>("--kernel")
{
    Description = "The kernel under KvmSharp: host (/dev/kvm) or soft (KvmSharp's software hypervisor).",
    DefaultValueFactory = _ => "host",
};
kernel.AcceptOnlyFromAmong("host", "soft");
var cPeer = new Option<string?>("--c-peer")
{
    Description = "The C peer program (bench/c's kvmbench); default: bench/out/c/kvmbench in the repository around the current directory.",
};
var peers = new Option<string[]>("--peers")
{
    Description = "Which peers run, comma-separated: c, kvmsharp (default both; one alone is for profiling).",
    AllowMultipleArgumentsPerToken = true,
};

var root = new RootCommand("Runs the same KVM workloads through a C program on /dev/kvm and through KvmSharp, alternating, and prints both figures and their ratio.")
{
    only, exits, repetitions, kernel, cPeer, peers,
};
root.SetAction(parsed =>
{
    var chosen = Split(parsed.GetValue(only));
    var unknown = chosen.Except(workloads.Select(w => w.Name)).ToArray();
    if (unknown.Length > 0)
        throw new UsageException($"--only: unknown workload {string.Join(", ", unknown)}; use {string.Join(", ", workloads.Select(w => w.Name))}");
    var selected = workloads.Where(w => chosen.Length == 0 || chosen.Contains(w.Name)).ToArray();

    var chosenPeers = Split(parsed.GetValue(peers));
    if (chosenPeers.Except(peerNames).FirstOrDefault() is { } badPeer)
        throw new UsageException($"--peers: unknown peer {badPeer}; use c, kvmsharp");
    if (chosenPeers.Length == 0)
        chosenPeers = peerNames;

    var settings = new BenchSettings(parsed.GetValue(exits), parsed.GetValue(repetitions));
    if (settings.Exits < 1)
        throw new UsageException("--exits must be at least 1");
    if (settings.Repetitions is < 1)
        throw new UsageException("--reps must be at least 1");

    using var kvm = Kvm.Open(OpenKernel(parsed.GetValue(kernel)!));
    var list = new List<IPeer>();
    string? cProgram = null;
    if (chosenPeers.Contains("c"))
    {
        cProgram = parsed.GetValue(cPeer) ?? FindCPeer()
            ?? throw new UsageException("no C peer: build it with `make -C bench/c` or pass --c-peer");
        list.Add(new CPeer(Path.GetFullPath(cProgram)));
    }
    if (chosenPeers.Contains("kvmsharp"))
        list.Add(new KvmSharpPeer(kvm));

    var output = Console.Out;
    output.WriteLine($"# KvmSharp.Bench: kernel {kvm.Kernel.Name}, N {settings.Exits}, reps {(settings.Repetitions?.ToString() ?? "default")}, workloads {string.Join(",", selected.Select(w => w.Name))}, peers {string.Join(",", list.Select(p => p.Name))}{(cProgram is null ? "" : $", C peer {cProgram}")}");
    output.WriteLine($"# machine: {MachineDescription()}");
    output.WriteLine($"# started {DateTime.UtcNow:yyyy-MM-dd HH:mm:ss} UTC");
    var harness = new Harness(list, settings, output, judgeTargets: kvm.Kernel is HostKernel);
    var results = harness.Run(selected);
    // KVM_CREATE_VM walks every mapping of the calling process (mmu_notifier_register
    // takes all their locks), so this count explains part of create_step_vm.
    output.WriteLine($"# memory mappings of this process: {File.ReadLines("/proc/self/maps").Count()}");
    if (Environment.GetEnvironmentVariable("KVMSHARP_BENCH_MAPS") is { Length: > 0 } mapsCopy)
        File.Copy("/proc/self/maps", mapsCopy, overwrite: true);
    output.WriteLine($"# finished {DateTime.UtcNow:yyyy-MM-dd HH:mm:ss} UTC");
    output.WriteLine();
    harness.PrintTable(results);
    return 0;
});

ParseResult parsedArguments = root.Parse(args);
if (parsedArguments.Errors.Count > 0)
{
    Console.Error.WriteLine($"kvmsharp-bench: {string.Join("; ", parsedArguments.Errors.Select(e => e.Message))}");
    return UsageError;
}
try
{
    return parsedArguments.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
}
catch (UsageException e)
{
    Console.Error.WriteLine($"kvmsharp-bench: {e.Message}");
    return UsageError;
}
catch (Exception e) when (e is BenchException or KvmException or NotSupportedException)
{
    Console.Error.WriteLine($"kvmsharp-bench: error: {e.Message}");
    return 1;
}

static string[] Split(string[]? values) =>
    (values ?? []).SelectMany(v => v.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)).Distinct().ToArray();

static IKvmKernel OpenKernel(string name)
{
    if (name == "soft")
        return OpenSoftKernel();
    var host = new HostKernel();
    if (!host.IsAvailable())
        throw new NotSupportedException($"The host kernel is not available: {host.DevicePath} cannot be opened.");
    return host;
}

// Apart, so that a host run never loads the Soft assemblies: every mapping they add
// to this process makes KVM_CREATE_VM slower (see bench/RESULTS.md).
[MethodImpl(MethodImplOptions.NoInlining)]
static IKvmKernel OpenSoftKernel() => new KvmSharp.Soft.SoftKernel();

// Looks upward from the working directory for the repository's built C peer.
static string? FindCPeer()
{
    for (var directory = new DirectoryInfo(Directory.GetCurrentDirectory()); directory is not null; directory = directory.Parent)
    {
        string candidate = Path.Combine(directory.FullName, "bench", "out", "c", "kvmbench");
        if (File.Exists(candidate))
            return candidate;
    }
    return null;
}

static string MachineDescription()
{
    string cpu = File.Exists("/proc/cpuinfo")
        ? File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? "?"
        : "?";
    string kvmModule = new[] { "kvm_pvm", "kvm_amd", "kvm_intel" }.FirstOrDefault(m => Directory.Exists($"/sys/module/{m}")) ?? "?";
    string load = File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "?";
    return $"{cpu}, {Environment.ProcessorCount} cores, Linux {Environment.OSVersion.Version}, {kvmModule}, {RuntimeInformation.FrameworkDescription}, load {load}";
}

/// <summary>Bad command-line input found after parsing.</summary>
internal sealed class UsageException(string message) : Exception(message);
