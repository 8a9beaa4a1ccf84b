namespace KvmSharp.Soft.Tests.Differential;

/// <summary>
/// Soft's CPU against the processor: random user-mode sequences from a fixed seed,
/// and the regression vectors in vectors.txt, each run on Host (/dev/kvm, ring 3
/// native) and on Soft from the same state.
/// </summary>
public sealed class DifferentialTests
{
    public const ulong FixedSeed = 0x2026_1125;
    public const int FixedSequences = 400;

    private static string VectorsPath => Path.Combine(AppContext.BaseDirectory, "Differential", "vectors.txt");

    public static TheoryData<string> VectorNames => new(RegressionVector.Load(VectorsPath).Select(v => v.Name));

    /// <summary>Guest ring 3 in 64-bit mode runs natively on this machine's processor: Soft against silicon.</summary>
    [Fact]
    public void FixedSeedSequences_64BitUserMode_MatchTheHardware() => RunFixedSeed(GuestMode.Long64, FixedSequences);

    /// <summary>
    /// kvm_pvm sends 32-bit user code through KVM's instruction emulator, so here Soft is compared with that
    /// emulator (the generator leaves out LZCNT, POPCNT and MOVBE, which it does not handle).
    /// </summary>
    [Fact]
    public void FixedSeedSequences_CompatibilityModeUserMode_MatchHost() => RunFixedSeed(GuestMode.Compat32, FixedSequences / 2);

    /// <summary>
    /// 32-bit protected mode (EFER.LME=0) at CPL 3 with flat segments. kvm_pvm cannot page outside long mode (a guest
    /// with 32-bit or PAE paging shuts down at its first instruction), so this runs with CR0.PG=0 and Soft is compared
    /// with KVM's instruction emulator, which runs such code here; paging's protections in this mode are covered by
    /// the Soft-only LegacyPagingTests.
    /// </summary>
    [Fact]
    public void FixedSeedSequences_32BitProtectedModeUserMode_MatchHost() => RunFixedSeed(GuestMode.Protected32, FixedSequences / 2);

    /// <summary>
    /// 16-bit code at CPL 3 in protected mode without paging: a 16-bit code segment based at 2 MiB and 16-bit data and
    /// stack segments based at 4 MiB, so operand and address sizes default to 16 and segment limits raise the faults.
    /// KVM's instruction emulator runs it here, as in the 32-bit protected mode.
    /// </summary>
    [Fact]
    public void FixedSeedSequences_16BitProtectedModeUserMode_MatchHost() => RunFixedSeed(GuestMode.Protected16, FixedSequences / 2);

    /// <summary>
    /// The same 16-bit code and segments in compatibility mode (long mode, paged, CS.L=0 and CS.D=0), where segment bases
    /// and limits still apply. KVM's emulator runs it here, as all compatibility-mode user code under kvm_pvm.
    /// </summary>
    [Fact]
    public void FixedSeedSequences_16BitCompatibilityModeUserMode_MatchHost() => RunFixedSeed(GuestMode.Compat16, FixedSequences / 2);

    /// <summary>
    /// Real mode, with CS's hidden base at 2 MiB and the data segments' at 4 MiB, exceptions through a real-mode vector
    /// table (the frame lands on the user stack). KVM's instruction emulator runs it here; where it cannot deliver #UD
    /// (an internal-error exit) the run is not compared.
    /// </summary>
    [Fact]
    public void FixedSeedSequences_16BitRealMode_MatchHost() => RunFixedSeed(GuestMode.Real16, FixedSequences / 2);

    private static void RunFixedSeed(GuestMode mode, int count)
    {
        RequireHost();
        var known = RegressionVector.Load(VectorsPath).Where(v => v.KnownMismatch is not null)
            .GroupBy(v => v.Signature).ToDictionary(g => g.Key, g => g.First().KnownMismatch!);
        using var runner = new DifferentialRunner();
        var generator = new SequenceGenerator(FixedSeed, mode);
        var unexplained = new List<string>();
        var output = TestContext.Current.TestOutputHelper;
        for (int i = 0; i < count; i++)
        {
            var comparison = runner.Compare(generator.Next());
            if (comparison.Matches) continue;
            var minimal = runner.Minimize(comparison);
            var vector = new RegressionVector(RegressionVector.NameFor(minimal), minimal.Test, minimal.Host, null);
            if (known.TryGetValue(vector.Signature, out var diagnosis))
            {
                output?.WriteLine($"sequence {i}: known mismatch {vector.Signature}: {diagnosis}");
                continue;
            }
            unexplained.Add($"sequence {i}: {string.Join("; ", minimal.Differences)}\n  {vector.Format()}");
        }
        output?.WriteLine($"{runner.Runs} runs, {runner.Instructions} instructions compared.");
        Assert.True(unexplained.Count == 0,
            $"Soft differs from Host in {unexplained.Count} of {count} sequences (minimized, in vectors.txt format):\n{string.Join("\n", unexplained)}");
    }

    [Theory]
    [MemberData(nameof(VectorNames))]
    public void RegressionVector_ReplaysLikeTheHardware(string name)
    {
        var vector = RegressionVector.Load(VectorsPath).Single(v => v.Name == name);
        if (HostKernelFactory.IsAvailable)
        {
            using var host = new DiffMachine(new HostKernelFactory());
            AssertSame(vector, host.Run(vector.Test), "Host no longer gives the recorded result");
        }
        using var soft = new DiffMachine(new SoftKernelFactory());
        var outcome = soft.Run(vector.Test);
        if (vector.KnownMismatch is not null)
        {
            bool fixedNow = outcome.DifferencesFrom(vector.Host, DifferentialRunner.UndefinedFlags(vector.Test, vector.Host)).Count == 0;
            Assert.Skip(fixedNow ? $"Soft now agrees; drop the known-mismatch mark. It was: {vector.KnownMismatch}" : vector.KnownMismatch);
        }
        AssertSame(vector, outcome, "Soft differs from the hardware");
    }

    private static void AssertSame(RegressionVector vector, Outcome actual, string what)
    {
        var differences = actual.DifferencesFrom(vector.Host, DifferentialRunner.UndefinedFlags(vector.Test, vector.Host));
        Assert.True(differences.Count == 0, $"{what} on {vector.Name}: {string.Join("; ", differences)}");
    }

    private static void RequireHost()
    {
        if (!HostKernelFactory.IsAvailable)
            Assert.Skip("/dev/kvm cannot be opened: there is no hardware to compare against.");
    }
}
