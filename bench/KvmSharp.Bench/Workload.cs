namespace KvmSharp.Bench;

/// <summary>What the command line asked for, common to every workload.</summary>
/// <param name="Exits">N: exits (KVM_RUN calls) per repetition of the loop workloads.</param>
/// <param name="Repetitions">Repetitions per peer; null for each workload's default (the C peer's).</param>
internal sealed record BenchSettings(long Exits, int? Repetitions);

/// <summary>
/// One benchmark that both peers run: the C peer as a subcommand of its
/// program, KvmSharp in this process. A round is one C peer process and one
/// KvmSharp block of the same repetitions, so each KvmSharp block repeats what one
/// C invocation does: its own VM(s), its own untimed warm-up, then the timed repetitions.
/// </summary>
internal abstract class Workload
{
    /// <summary>The key of --only, and the C peer's subcommand.</summary>
    public abstract string Name { get; }

    public abstract IReadOnlyList<Figure> Figures { get; }

    /// <summary>The C peer's default, so that a run without -r measures what the C README reports.</summary>
    public abstract int DefaultRepetitions { get; }

    /// <summary>Repetitions per round: small enough that both peers alternate often under changing load.</summary>
    public abstract int RepetitionsPerRound { get; }

    /// <summary>False for rows that only KvmSharp measures (the C peer has no such subcommand).</summary>
    public virtual bool HasCPeer => true;

    public abstract IReadOnlyList<string> CPeerArguments(BenchSettings settings, int repetitions);

    /// <summary>Runs one block of <paramref name="repetitions"/> through KvmSharp and adds what it measured.</summary>
    public abstract void RunKvmSharp(Kvm kvm, BenchSettings settings, int repetitions, Samples samples);

    /// <summary>What a round's CPU time is divided by for the <see cref="Figure.CpuTime"/> figures: the calls it made.</summary>
    public virtual double CpuTimeDivisor(BenchSettings settings, int repetitions) => 1;

    /// <summary>Maps the medians of one C peer run onto this workload's figures, where the two differ.</summary>
    public virtual IReadOnlyDictionary<string, double> AdaptCPeerMedians(IReadOnlyDictionary<string, double> medians) => medians;

    /// <summary>Untimed warm-up of this process's JIT before the first round (see <see cref="Harness"/>).</summary>
    public virtual void WarmUpKvmSharp(Kvm kvm, BenchSettings settings) =>
        RunKvmSharp(kvm, settings with { Exits = Math.Min(settings.Exits, 20_000) }, 1, new Samples());

    /// <summary>The untimed warm-up of each repetition, as the C peer does it.</summary>
    protected static long WarmUpExits(long exits) => exits / 100 + 1;
}
