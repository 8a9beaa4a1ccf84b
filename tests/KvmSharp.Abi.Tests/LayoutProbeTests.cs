using System.Text;
using KvmSharp.Abi.Tests.Probe;

namespace KvmSharp.Abi.Tests;

/// <summary>
/// Abi is byte-exact against C: every number it declares, found by
/// reflection, is compared with what gcc computes from the system's
/// linux/kvm.h (plus the removed and other-architecture definitions in
/// Probe/RemovedAndForeignDefinitions.h).
/// </summary>
public class LayoutProbeTests
{
    /// <summary>Helpers without a C counterpart stay rare; each must say why it exists.</summary>
    private const int MaxExemptions = 4;

    private static readonly AbiChecks Abi = AbiChecks.Of(typeof(KvmIoctls).Assembly);

    [Fact]
    public void Every_size_offset_and_constant_matches_the_C_header()
    {
        var result = CProbe.Evaluate(Abi.Checks.Select(c => c.CExpression).ToList());

        var failures = new StringBuilder();
        foreach (var problem in Abi.ManagedProblems)
            failures.AppendLine($"  {problem}");
        var typesCMissesEntirely = new HashSet<string>();
        for (int id = 0; id < Abi.Checks.Count; id++)
        {
            var check = Abi.Checks[id];
            if (result.Unresolved.TryGetValue(id, out var reason))
            {
                // One line per struct C does not know, not one per field of it.
                if (typesCMissesEntirely.Add(check.Subject.Split('.')[0]))
                    failures.AppendLine($"  {check.Subject}: C has no `{check.CExpression}` ({reason})");
            }
            else if (result.Values[id] != check.Expected)
                failures.AppendLine($"  {check.Subject}: C# {check.Expected}, C `{check.CExpression}` = {result.Values[id]}");
        }
        Assert.True(failures.Length == 0,
            $"Abi differs from linux/kvm.h in {failures.ToString().Count(c => c == '\n')} place(s) " +
            $"(of {Abi.Checks.Count} checks):\n{failures}");
    }

    [Fact]
    public void The_probe_covers_a_realistic_amount_of_the_ABI()
    {
        // Guards against reflection silently finding nothing, which would make the probe pass vacuously.
        Assert.True(Abi.Checks.Count > 1000, $"only {Abi.Checks.Count} checks were generated");
        Assert.Contains(Abi.Checks, c => c.CExpression == "offsetof(struct kvm_run, io.port)");
        Assert.Contains(Abi.Checks, c => c.CExpression == "KVM_RUN");
    }

    [Fact]
    public void Members_without_a_C_counterpart_are_few_and_justified()
    {
        var listing = string.Join("\n", Abi.Exemptions.Select(e => $"  {e.Member}: {e.Reason}"));
        Assert.True(Abi.Exemptions.Count <= MaxExemptions, $"too many members without a C counterpart:\n{listing}");
        Assert.All(Abi.Exemptions, e => Assert.False(string.IsNullOrWhiteSpace(e.Reason), $"{e.Member} gives no reason"));
        TestContext.Current.SendDiagnosticMessage($"Abi members without a C counterpart:\n{listing}");
    }
}
