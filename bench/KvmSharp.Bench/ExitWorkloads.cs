using KvmSharp.Abi;

namespace KvmSharp.Bench;

/// <summary>The guests of bench/c/README.md ("kvmbench guests"), byte for byte.</summary>
internal static class KvmbenchGuests
{
    /// <summary>1000: hlt</summary>
    public static ReadOnlySpan<byte> Hlt => [0xf4];

    /// <summary>1000: mov dx, 0x3f8 / 1004: out dx, al / 1005: jmp 1004</summary>
    public static ReadOnlySpan<byte> Pio => [0x66, 0xba, 0xf8, 0x03, 0xee, 0xeb, 0xfd];

    /// <summary>1000: mov edi, 0x10000000 / 1005: mov [edi], al / 1007: jmp 1005</summary>
    public static ReadOnlySpan<byte> Mmio => [0xbf, 0x00, 0x00, 0x00, 0x10, 0x88, 0x07, 0xeb, 0xfc];

    public const ushort PioPort = 0x3f8;

    /// <summary>256 MiB: outside the only slot.</summary>
    public const ulong MmioAddress = 0x10000000;
}

/// <summary>(a) KVM_CREATE_VM … the first KVM_RUN returning HLT, in µs, with the C peer's step breakdown.</summary>
internal sealed class CreateWorkload : Workload
{
    private const string Vcpu = "create_step_vcpu";
    private const string RunMmap = "create_step_run_mmap";

    public override string Name => "create";

    public override IReadOnlyList<Figure> Figures { get; } =
    [
        new("create", "us", "(a) VM + 64 MiB slot + vCPU + first KVM_RUN to HLT", PerRepetition: true, Target: 1.2),
        new("create_step_vm", "us", "    step: KVM_CREATE_VM", PerRepetition: false),
        new("create_step_memory", "us", "    step: mmap 64 MiB + copy + KVM_SET_USER_MEMORY_REGION", PerRepetition: false),
        new(Vcpu, "us", "    step: KVM_CREATE_VCPU + mmap kvm_run", PerRepetition: false),
        new("create_step_regs", "us", "    step: GET/SET_SREGS + SET_REGS", PerRepetition: false),
        new("create_step_first_run", "us", "    step: first KVM_RUN (hlt)", PerRepetition: false),
        new("teardown", "us", "    teardown (not in the figure)", PerRepetition: true),
    ];

    public override int DefaultRepetitions => 100;

    public override int RepetitionsPerRound => 20;

    public override IReadOnlyList<string> CPeerArguments(BenchSettings settings, int repetitions) =>
        ["create", "-r", repetitions.ToString()];

    // The typed API maps the run block inside CreateVcpu, so the C peer's two steps are one here.
    public override IReadOnlyDictionary<string, double> AdaptCPeerMedians(IReadOnlyDictionary<string, double> medians)
    {
        var adapted = new Dictionary<string, double>(medians);
        if (adapted.TryGetValue(Vcpu, out double vcpu) && adapted.Remove(RunMmap, out double runMmap))
            adapted[Vcpu] = vcpu + runMmap;
        return adapted;
    }

    public override void RunKvmSharp(Kvm kvm, BenchSettings settings, int repetitions, Samples samples)
    {
        var create = new double[repetitions];
        var teardown = new double[repetitions];
        var steps = new double[(int)CreateStep.Count + 1][];
        for (int k = 0; k < steps.Length; k++)
            steps[k] = new double[repetitions];
        Span<long> stepEnds = stackalloc long[(int)CreateStep.Count];

        // Repetition -1 is the C peer's untimed warm-up VM.
        for (int i = -1; i < repetitions; i++)
        {
            long start = Clock.Now();
            var guest = FlatGuestVm.Create(kvm, KvmbenchGuests.Hlt, stepEnds);
            RunResult result = guest.Vcpu.Run();
            long ran = Clock.Now();
            if (result.Reason != KvmExitReason.Hlt || result.Interrupted)
                throw guest.UnexpectedExit(result, "HLT");
            guest.Dispose();
            long tornDown = Clock.Now();
            if (i < 0)
                continue;
            create[i] = Clock.Microseconds(start, ran);
            teardown[i] = Clock.Microseconds(ran, tornDown);
            for (int k = 0; k < (int)CreateStep.Count; k++)
                steps[k][i] = Clock.Microseconds(k == 0 ? start : stepEnds[k - 1], stepEnds[k]);
            steps[(int)CreateStep.Count][i] = Clock.Microseconds(stepEnds[(int)CreateStep.Count - 1], ran);
        }

        samples.AddRange("create", create);
        samples.AddRange("teardown", teardown);
        samples.Add("create_step_vm", Statistics.Median(steps[(int)CreateStep.Vm]));
        samples.Add("create_step_memory", Statistics.Median(steps[(int)CreateStep.Memory]));
        samples.Add(Vcpu, Statistics.Median(steps[(int)CreateStep.Vcpu]));
        samples.Add("create_step_regs", Statistics.Median(steps[(int)CreateStep.Regs]));
        samples.Add("create_step_first_run", Statistics.Median(steps[(int)CreateStep.Count]));
    }

    public override void WarmUpKvmSharp(Kvm kvm, BenchSettings settings) => RunKvmSharp(kvm, settings, 40, new Samples());
}

/// <summary>
/// A loop of N KVM_RUN calls on one VM, in ns per call: each repetition runs
/// N/100+1 untimed calls, then N timed ones, as the C peer does.
/// </summary>
internal abstract class ExitLoopWorkload : Workload
{
    public override int DefaultRepetitions => 3;

    public override int RepetitionsPerRound => 1;

    protected abstract ReadOnlySpan<byte> Guest { get; }

    /// <summary>The wall-clock figure, as the C peer names and prints it.</summary>
    protected abstract Figure Figure { get; }

    public override IReadOnlyList<Figure> Figures =>
        field ??= [Figure, new($"{Figure.Name}_cpu", Figure.Unit, "    the same in CPU time (load-robust; whole round incl. VM set-up)", PerRepetition: false, CpuTime: true)];

    // Every KVM_RUN of the round, the warm-ups included: the CPU time covers them all.
    public override double CpuTimeDivisor(BenchSettings settings, int repetitions) =>
        repetitions * (double)(settings.Exits + WarmUpExits(settings.Exits));

    public override IReadOnlyList<string> CPeerArguments(BenchSettings settings, int repetitions) =>
        [Name, settings.Exits.ToString(), "-r", repetitions.ToString()];

    /// <summary>Brings the fresh VM to where the timed calls start (untimed).</summary>
    protected virtual void Prepare(FlatGuestVm guest)
    {
    }

    /// <summary>The timed loop: <paramref name="calls"/> KVM_RUN calls, each checked to end as the C peer expects.</summary>
    protected abstract void Loop(FlatGuestVm guest, long calls);

    public override void RunKvmSharp(Kvm kvm, BenchSettings settings, int repetitions, Samples samples)
    {
        using var guest = FlatGuestVm.Create(kvm, Guest);
        Prepare(guest);
        for (int i = -1; i < repetitions; i++)
        {
            long calls = i < 0 ? WarmUpExits(settings.Exits) : settings.Exits;
            long start = Clock.Now();
            Loop(guest, calls);
            long end = Clock.Now();
            if (i >= 0)
                samples.Add(Figure.Name, Clock.Nanoseconds(start, end) / settings.Exits);
        }
    }
}

/// <summary>(b) the `out` loop: every KVM_RUN ends in KVM_EXIT_IO, OUT 0x3f8, size 1, count 1.</summary>
internal sealed class PioWorkload : ExitLoopWorkload
{
    public override string Name => "pio";

    protected override Figure Figure { get; } =
        new("pio_exit", "ns", "(b) port I/O exit (`out` loop), per exit", PerRepetition: true, Target: 1.05);

    protected override ReadOnlySpan<byte> Guest => KvmbenchGuests.Pio;

    protected override void Loop(FlatGuestVm guest, long calls)
    {
        Vcpu vcpu = guest.Vcpu;
        for (long k = 0; k < calls; k++)
        {
            RunResult result = vcpu.Run();
            if (result.Reason != KvmExitReason.Io || result.Interrupted)
                throw guest.UnexpectedExit(result, "IO out 0x3f8");
            IoExit io = vcpu.Io;
            if (io.Port != KvmbenchGuests.PioPort || !io.IsOut || io.Size != 1 || io.Count != 1)
                throw guest.UnexpectedExit(result, "IO out 0x3f8");
        }
    }
}

/// <summary>(c) the MMIO store loop: every KVM_RUN ends in KVM_EXIT_MMIO, a 1-byte write to 0x10000000.</summary>
internal sealed class MmioWorkload : ExitLoopWorkload
{
    public override string Name => "mmio";

    protected override Figure Figure { get; } =
        new("mmio_exit", "ns", "(c) MMIO exit (store outside the slot), per exit", PerRepetition: true, Target: 1.05);

    protected override ReadOnlySpan<byte> Guest => KvmbenchGuests.Mmio;

    protected override void Loop(FlatGuestVm guest, long calls)
    {
        Vcpu vcpu = guest.Vcpu;
        for (long k = 0; k < calls; k++)
        {
            RunResult result = vcpu.Run();
            if (result.Reason != KvmExitReason.Mmio || result.Interrupted)
                throw guest.UnexpectedExit(result, "MMIO write 0x10000000");
            MmioExit mmio = vcpu.Mmio;
            if (mmio.PhysicalAddress != KvmbenchGuests.MmioAddress || !mmio.IsWrite || mmio.Data.Length != 1)
                throw guest.UnexpectedExit(result, "MMIO write 0x10000000");
        }
    }
}

/// <summary>(d) KVM_RUN with immediate_exit set: returns EINTR without entering the guest.</summary>
internal sealed class ImmediateExitWorkload : ExitLoopWorkload
{
    public override string Name => "immediate";

    protected override Figure Figure { get; } =
        new("immediate_exit", "ns", "(d) KVM_RUN with immediate_exit = 1, per call", PerRepetition: true);

    protected override ReadOnlySpan<byte> Guest => KvmbenchGuests.Hlt;

    // As the C peer: enter the guest once, to its hlt, so the vCPU has run before the timed calls.
    protected override void Prepare(FlatGuestVm guest)
    {
        RunResult result = guest.Vcpu.Run();
        if (result.Reason != KvmExitReason.Hlt || result.Interrupted)
            throw guest.UnexpectedExit(result, "HLT");
    }

    protected override void Loop(FlatGuestVm guest, long calls)
    {
        Vcpu vcpu = guest.Vcpu;
        for (long k = 0; k < calls; k++)
        {
            // KvmSharp's Run clears immediate_exit when KVM_RUN returns EINTR (a kick
            // is consumed), so each call sets it again; the C peer sets it once.
            vcpu.RunBlock.ImmediateExit = 1;
            RunResult result = vcpu.Run();
            if (result.Errno != Errno.EINTR)
                throw new BenchException($"KVM_RUN: returned {(result.Interrupted ? result.Errno.ToString() : "0")} with immediate_exit set (exit {result.Reason}), wanted EINTR");
        }
    }
}
