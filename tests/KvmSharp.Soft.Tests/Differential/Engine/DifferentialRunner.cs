using Iced.Intel;

namespace KvmSharp.Soft.Tests.Differential;

/// <summary>The same case on Host and on Soft, compared.</summary>
public sealed class DifferentialRunner : IDisposable
{
    private readonly DiffMachine _host;
    private readonly DiffMachine _soft;

    public DifferentialRunner()
    {
        _host = new DiffMachine(new HostKernelFactory());
        _soft = new DiffMachine(new SoftKernelFactory());
    }

    public long Runs { get; private set; }

    /// <summary>RFLAGS bits left out of every comparison, to look past a known bug while hunting others (fuzzer --mask-flags).</summary>
    public ulong ExtraIgnoredFlags { get; init; }

    public long Instructions { get; private set; }

    /// <summary>Runs left uncompared because Host's result is a kvm_pvm artefact (see <see cref="IsKvmPvmReservedFault"/>).</summary>
    public long Incomparable { get; private set; }

    /// <summary>
    /// A #PF with the reserved-bit flag: these page tables set no reserved bit, so it is kvm_pvm's doing — it keeps
    /// part of the upper (kernel) half of the address space for itself, e.g. 0xffff800000000000 faults with error
    /// code 0xd where the guest's empty PML4 entry calls for 0x4.
    /// </summary>
    public static bool IsKvmPvmReservedFault(Outcome host) =>
        host.Kind == OutcomeKind.Exception && host.Vector == 14 && (host.ErrorCode & 8) != 0;

    /// <summary>
    /// The modes without paging can rewrite the code ahead of them (in real mode even through CS); the bytes they then
    /// reach are arbitrary, and KVM's emulator (Host here) raises #UD for whatever it does not implement (x87, INT3 as
    /// #UD…) where the processor and Soft execute it, or in real mode gives up with an internal-error exit (seen after
    /// <c>mov cs:[0x60], bx</c>). Such a run says nothing about Soft.
    /// </summary>
    private bool IsEmulatorGapAfterSelfModification(TestCase test, Outcome host, Outcome soft) =>
        test.Mode.RunsWithoutPaging() && _host.CodeOverwritten
        && ((host.Kind == OutcomeKind.Exception && host.Vector == 6) || (host.Kind == OutcomeKind.OtherExit && host.Detail == "InternalError")
            // Real mode writes its own code through CS (MOV CS:[0x30], BX): what runs next is data, and the emulator
            // has been seen to leave the segment altogether (an exception delivered from CS 0xf4f4) where Soft ran on
            // for ever in the rewritten bytes.
            || host.Detail.StartsWith("from cs", StringComparison.Ordinal) || host.Detail == DiffMachine.RunawayDetail
            || soft.Detail == DiffMachine.RunawayDetail || soft.Detail.StartsWith("hlt at", StringComparison.Ordinal));

    /// <summary>
    /// In real mode KVM's emulator does not deliver every #UD: where Soft (like the processor) raises it, Host may stop
    /// with KVM_EXIT_INTERNAL_ERROR (probed: a lone UD2 in real mode does; a LOCK on a register gets #UD).
    /// </summary>
    private static bool IsRealModeUndefinedOpcodeGap(TestCase test, Outcome host, Outcome soft) =>
        test.Mode == GuestMode.Real16 && host.Kind == OutcomeKind.OtherExit && host.Detail == "InternalError"
        && soft.Kind == OutcomeKind.Exception && soft.Vector == 6;

    /// <summary>
    /// kvm_pvm intercepts a #GP raised by guest ring-3 code and hands the instruction to KVM's instruction emulator,
    /// which raises #UD instead when it does not implement the instruction. Probed with <c>--probe</c>: PXOR and LDMXCSR
    /// with a misaligned or reserved-bit operand give #UD on Host, while MOVAPS, which the emulator knows, gives the
    /// processor's #GP(0), as Soft does for all three; so do the misaligned 128-bit forms of SSE3 and SSSE3 (HADDPS,
    /// PSHUFB…; probed: PABSB from r15+0xbb8 gives #UD on Host, from r15+0xbb0 runs), which the emulator does not know
    /// either, and by the same mechanism SSE4.1/SSE4.2. So Host's #UD where Soft raises #GP(0) at the same SSE
    /// instruction says nothing about the processor.
    /// </summary>
    public static bool IsKvmPvmGeneralProtectionReplayedAsUndefined(TestCase test, Outcome host, Outcome soft)
    {
        if (test.Mode != GuestMode.Long64 || host.Kind != OutcomeKind.Exception || soft.Kind != OutcomeKind.Exception) return false;
        if (host.Vector != 6 || soft.Vector != 13 || soft.ErrorCode != 0 || host.Rip != soft.Rip) return false;
        Code code = InstructionAt(test, host.Rip).Code;
        return code != Code.INVALID
            && code.CpuidFeatures().Any(f => f is CpuidFeature.SSE or CpuidFeature.SSE2 or CpuidFeature.SSE3
                or CpuidFeature.SSSE3 or CpuidFeature.SSE4_1 or CpuidFeature.SSE4_2);
    }

    /// <summary>
    /// Outside 64-bit mode kvm_pvm runs user code through KVM's instruction emulator (it executes LZCNT as BSR: probed,
    /// <c>--mode 32 --probe f30fbdc3</c> with EBX 0 sets ZF where LZCNT sets CF), which reads a CMPS's source (RSI)
    /// before its destination (RDI). The EPYC, asked in 64-bit mode with the same addresses
    /// (<c>--probe 48c7c104000000,48c7c600000000,48c7c7ab710000,f3a7</c>), faults on RDI first, as Soft does
    /// everywhere (REPE CMPSB aside). So when both reads fault outside 64-bit mode, the two kernels name different
    /// addresses and neither says anything about the other.
    /// </summary>
    public static bool IsEmulatorCompareStringReadOrder(TestCase test, Outcome host, Outcome soft)
    {
        if (test.Mode == GuestMode.Long64 || host.Kind != OutcomeKind.Exception || soft.Kind != OutcomeKind.Exception) return false;
        if (host.Vector != 14 || soft.Vector != 14 || host.Rip != soft.Rip || host.Cr2 == soft.Cr2) return false;
        return InstructionAt(test, host.Rip).Mnemonic is Mnemonic.Cmpsb or Mnemonic.Cmpsw or Mnemonic.Cmpsd or Mnemonic.Cmpsq;
    }

    /// <summary>The sequence's instruction that starts at <paramref name="rip"/>, or an INVALID one when none does.</summary>
    private static Instruction InstructionAt(TestCase test, ulong rip)
    {
        ulong start = DiffMachine.CodeStart(test.Bitness);
        return FlagAnalysis.Analyze(test.Code, test.Bitness).FirstOrDefault(s => start + (ulong)s.Offset == rip).Instruction;
    }

    /// <summary>
    /// In 16-bit compatibility mode kvm_pvm delivers a #UD by having KVM's emulator fetch the instruction again, and that
    /// fetch ignores CS's base: UD2 at IP 0 of a code segment based at 2 MiB gives a #PF at linear address 0 (error 5,
    /// a user read of the supervisor page there) where the processor and Soft raise #UD. Such a run is not compared.
    /// </summary>
    public static bool IsKvmPvmCompat16UndefinedOpcodeFetch(TestCase test, Outcome host, Outcome soft) =>
        test.Mode == GuestMode.Compat16 && host.Kind == OutcomeKind.Exception && host.Vector == 14 && host.Cr2 == host.Rip
        && soft.Kind == OutcomeKind.Exception && soft.Vector == 6 && soft.Rip == host.Rip;

    /// <summary>
    /// A guest that ran on without an exit on one kernel (see <see cref="DiffMachine.RunawayLimitMs"/>) while the other
    /// did not end normally either (an emulator give-up, its own runaway): the code being run was no longer the
    /// sequence's. A runaway where the other kernel reached the stop or an exception is compared, and is a mismatch.
    /// </summary>
    private static bool IsRunawayOnBoth(Outcome host, Outcome soft) =>
        (host.Detail == DiffMachine.RunawayDetail || soft.Detail == DiffMachine.RunawayDetail)
        && host.Kind == OutcomeKind.OtherExit && soft.Kind == OutcomeKind.OtherExit;

    public Outcome RunHost(TestCase test) => _host.Run(test);

    public Outcome RunSoft(TestCase test) => _soft.Run(test);

    /// <summary>Runs both and returns the differences (empty when Soft agrees with the hardware).</summary>
    public Comparison Compare(TestCase test)
    {
        var host = _host.Run(test);
        var soft = _soft.Run(test);
        Runs++;
        Instructions += test.Instructions.Count + 1;
        if (IsKvmPvmReservedFault(host) || IsEmulatorGapAfterSelfModification(test, host, soft) || IsRealModeUndefinedOpcodeGap(test, host, soft)
            || IsKvmPvmGeneralProtectionReplayedAsUndefined(test, host, soft) || IsKvmPvmCompat16UndefinedOpcodeFetch(test, host, soft)
            || IsEmulatorCompareStringReadOrder(test, host, soft) || IsRunawayOnBoth(host, soft))
        {
            Incomparable++;
            return new Comparison(test, host, soft, []);
        }
        return new Comparison(test, host, soft, soft.DifferencesFrom(host, UndefinedFlags(test, host) | ExtraIgnoredFlags));
    }

    /// <summary>
    /// RFLAGS.IOPL and IF are virtual on kvm_pvm: guest ring 3 runs natively with the host's own user flags
    /// (IOPL 0, IF 1, which PUSHF shows), while KVM_GET_REGS reports IOPL 0 and the virtual IF, and a POPF that
    /// sets IF at IOPL 3 is ignored by the silicon. Neither kernel can be compared with the other on these bits.
    /// </summary>
    public const ulong KvmPvmHiddenFlags = 0x3200;

    /// <summary>The RFLAGS bits not compared where <paramref name="outcome"/> stopped: undefined by the architecture, or hidden by kvm_pvm.</summary>
    public static ulong UndefinedFlags(TestCase test, Outcome outcome) =>
        FlagAnalysis.UndefinedAt(test.Code, test.Bitness, outcome.Rip) | KvmPvmHiddenFlags;

    /// <summary>
    /// Drops instructions, then zeroes registers, while the case still mismatches, so
    /// that what is left is the smallest program that shows the bug.
    /// </summary>
    public Comparison Minimize(Comparison mismatch)
    {
        var best = mismatch;
        bool StillFails(TestCase candidate, out Comparison result)
        {
            result = default!;
            if (!SequenceRules.IsComparable(candidate)) return false;
            result = Compare(candidate);
            return result.Differences.Count > 0;
        }
        for (int chunk = Math.Max(1, best.Test.Instructions.Count / 2); chunk >= 1; chunk /= 2)
        {
            bool removed = true;
            while (removed)
            {
                removed = false;
                for (int start = best.Test.Instructions.Count - chunk; start >= 0; start--)
                {
                    var fewer = best.Test.Instructions.Take(start).Concat(best.Test.Instructions.Skip(start + chunk)).ToList();
                    if (fewer.Count == 0) continue;
                    if (StillFails(best.Test.WithInstructions(fewer), out var result))
                    {
                        best = result;
                        removed = true;
                        start = Math.Min(start, best.Test.Instructions.Count - chunk + 1);
                    }
                }
            }
        }
        for (int i = 0; i < TestCase.GprCount; i++)
        {
            if (i == 4 || (i == 15 && best.Test.Mode == GuestMode.Long64) || best.Test.Gprs[i] == 0) continue;
            if (StillFails(best.Test.WithGpr(i, 0), out var result))
                best = result;
        }
        return best;
    }

    public void Dispose()
    {
        _host.Dispose();
        _soft.Dispose();
    }
}

public sealed record Comparison(TestCase Test, Outcome Host, Outcome Soft, List<string> Differences)
{
    public bool Matches => Differences.Count == 0;
}
