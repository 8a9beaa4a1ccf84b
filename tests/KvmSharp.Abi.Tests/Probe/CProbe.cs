using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;

namespace KvmSharp.Abi.Tests.Probe;

/// <summary>What C says: the value of each expression it could evaluate, and why it could not evaluate the rest.</summary>
public sealed record ProbeResult(IReadOnlyDictionary<int, long> Values, IReadOnlyDictionary<int, string> Unresolved);

/// <summary>
/// Evaluates C expressions against the system's linux/kvm.h by compiling and
/// running a small program with gcc. An expression C rejects (a name the
/// header lacks) is reported, not fatal: the probe is rebuilt without it so
/// every other number still gets compared.
/// </summary>
public static partial class CProbe
{
    /// <summary>The removed and other-architecture definitions, shipped next to the tests.</summary>
    public const string SupplementHeader = "RemovedAndForeignDefinitions.h";

    private const int MaxCompileRounds = 6;

    public static ProbeResult Evaluate(IReadOnlyList<string> expressions)
    {
        RequireGcc();
        var workDir = Directory.CreateTempSubdirectory("kvmsharp-abi-probe-");
        try
        {
            var unresolved = new Dictionary<int, string>();
            string executable = Path.Combine(workDir.FullName, "probe");
            for (int round = 0; ; round++)
            {
                string source = Path.Combine(workDir.FullName, "probe.c");
                var lineOfCheck = WriteSource(source, expressions, unresolved.Keys.ToHashSet());
                var (exitCode, _, errors) = Run("gcc", ["-std=gnu11", "-fmax-errors=0", "-ftrack-macro-expansion=0", "-w", "-I", SupplementDirectory, source, "-o", executable]);
                if (exitCode == 0)
                    break;
                var rejected = RejectedChecks(errors, lineOfCheck);
                if (rejected.Count == 0 || round == MaxCompileRounds)
                    throw new InvalidOperationException($"The C probe did not compile:\n{errors}");
                foreach (var (id, message) in rejected)
                    unresolved[id] = message;
            }
            var (runExit, output, runErrors) = Run(executable, []);
            if (runExit != 0)
                throw new InvalidOperationException($"The C probe failed ({runExit}): {runErrors}");
            return new ProbeResult(ParseValues(output), unresolved);
        }
        finally
        {
            workDir.Delete(recursive: true);
        }
    }

    private static string SupplementDirectory => Path.Combine(AppContext.BaseDirectory, "Probe");

    private static void RequireGcc()
    {
        try
        {
            Run("gcc", ["--version"]);
        }
        catch (System.ComponentModel.Win32Exception)
        {
            Assert.Fail("gcc is required: the Abi layout test compiles a C probe against /usr/include/linux/kvm.h. " +
                        "Install gcc and the Linux UAPI headers (Debian: apt-get install gcc linux-libc-dev).");
        }
    }

    /// <summary>Writes one check per line and returns which line holds which check.</summary>
    private static Dictionary<int, int> WriteSource(string path, IReadOnlyList<string> expressions, HashSet<int> skipped)
    {
        var source = new StringBuilder();
        source.AppendLine("#include <stddef.h>");
        source.AppendLine("#include <stdio.h>");
        source.AppendLine("#include <errno.h>");
        source.AppendLine("#include <linux/kvm.h>");
        source.AppendLine($"#include \"{SupplementHeader}\"");
        source.AppendLine("#define CHECK(id, expr) printf(\"%d %lld\\n\", id, (long long)(expr))");
        source.AppendLine("int main(void)");
        source.AppendLine("{");
        int line = 8;
        var lineOfCheck = new Dictionary<int, int>();
        for (int id = 0; id < expressions.Count; id++)
        {
            if (skipped.Contains(id))
                continue;
            source.AppendLine($"    CHECK({id}, {expressions[id]});");
            lineOfCheck[++line] = id;
        }
        source.AppendLine("    return 0;");
        source.AppendLine("}");
        File.WriteAllText(path, source.ToString());
        return lineOfCheck;
    }

    private static Dictionary<int, string> RejectedChecks(string gccErrors, Dictionary<int, int> checkOnLine)
    {
        var rejected = new Dictionary<int, string>();
        foreach (Match error in ProbeError().Matches(gccErrors))
        {
            if (checkOnLine.TryGetValue(int.Parse(error.Groups["line"].Value), out int id))
                rejected.TryAdd(id, error.Groups["message"].Value.Trim());
        }
        return rejected;
    }

    private static Dictionary<int, long> ParseValues(string output)
    {
        var values = new Dictionary<int, long>();
        foreach (var line in output.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var parts = line.Split(' ');
            values[int.Parse(parts[0])] = long.Parse(parts[1]);
        }
        return values;
    }

    private static (int ExitCode, string Output, string Errors) Run(string program, IEnumerable<string> arguments)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in arguments)
            start.ArgumentList.Add(argument);
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        process.WaitForExit();
        return (process.ExitCode, output.Result, errors.Result);
    }

    [GeneratedRegex(@"probe\.c:(?<line>\d+):\d+: error: (?<message>[^\n]*)")]
    private static partial Regex ProbeError();
}
