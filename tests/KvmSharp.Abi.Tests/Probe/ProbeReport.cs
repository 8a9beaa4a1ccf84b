using System.Text;

namespace KvmSharp.Abi.Tests.Probe;

/// <summary>Every disagreement between Abi and C, one line each, for a single failure message.</summary>
public static class ProbeReport
{
    public static IReadOnlyList<string> Mismatches(AbiChecks abi, ProbeResult result)
    {
        var lines = new List<string>(abi.ManagedProblems);
        var structsCLacks = StructsCLacks(abi, result);
        for (int id = 0; id < abi.Checks.Count; id++)
        {
            var check = abi.Checks[id];
            if (result.Unresolved.TryGetValue(id, out var reason))
            {
                // A struct C does not know at all is one line, not one line per field of it.
                bool isFieldOfUnknownStruct = check.Subject.Contains('.') && structsCLacks.Contains(check.Subject.Split('.')[0]);
                if (!isFieldOfUnknownStruct)
                    lines.Add($"{check.Subject}: C has no `{check.CExpression}` ({reason})");
            }
            else if (result.Values[id] != check.Expected)
            {
                lines.Add($"{check.Subject}: C# {check.Expected}, C `{check.CExpression}` = {result.Values[id]}");
            }
        }
        return lines;
    }

    public static string Format(IReadOnlyList<string> mismatches, int checkCount)
    {
        var message = new StringBuilder($"Abi differs from linux/kvm.h in {mismatches.Count} place(s) (of {checkCount} checks):\n");
        foreach (var line in mismatches)
            message.Append("  ").AppendLine(line);
        return message.ToString();
    }

    private static HashSet<string> StructsCLacks(AbiChecks abi, ProbeResult result) =>
        result.Unresolved.Keys
            .Select(id => abi.Checks[id])
            .Where(check => check.CExpression.StartsWith("sizeof(struct ") && !check.Subject.Contains('.'))
            .Select(check => check.Subject)
            .ToHashSet();
}
