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

        var mismatches = ProbeReport.Mismatches(Abi, result);

        Assert.True(mismatches.Count == 0, ProbeReport.Format(mismatches, Abi.Checks.Count));
    }

    [Fact]
    public void The_probe_covers_a_realistic_amount_of_the_ABI()
    {
        // Guards against reflection silently finding nothing, which would make the probe pass vacuously.
        Assert.True(Abi.Checks.Count > 2000, $"only {Abi.Checks.Count} checks were generated");
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
