using KvmSharp.Abi;

namespace KvmSharp.Bench;

/// <summary>
/// One VM of the kvmbench guests (bench/c/README.md, "kvmbench guests"): a 64 MiB
/// slot at guest physical 0, the code at 0x1000, one vCPU in 32-bit flat
/// protected mode at CPL 0, every general register 0 but rip and rflags.
/// Built step by step in the C peer's order so that each step can be timed.
/// </summary>
internal sealed class FlatGuestVm : IDisposable
{
    public const ulong MemorySize = 64UL << 20;
    public const ulong CodeAddress = 0x1000;

    private FlatGuestVm(Vm vm, AnonymousMemory memory, Vcpu vcpu)
    {
        Vm = vm;
        Memory = memory;
        Vcpu = vcpu;
    }

    public Vm Vm { get; }

    public AnonymousMemory Memory { get; }

    public Vcpu Vcpu { get; }

    /// <summary>Creates the VM; <paramref name="steps"/>, when given, receives the time after each <see cref="CreateStep"/>.</summary>
    public static FlatGuestVm Create(Kvm kvm, ReadOnlySpan<byte> code, Span<long> steps = default)
    {
        bool timed = !steps.IsEmpty;
        Vm vm = kvm.CreateVm();
        if (timed)
            steps[(int)CreateStep.Vm] = Clock.Now();

        AnonymousMemory memory = AnonymousMemory.Map(MemorySize);
        memory.Write(CodeAddress, code);
        vm.SetUserMemoryRegion(slot: 0, guestPhysAddr: 0, MemorySize, memory.Address);
        if (timed)
            steps[(int)CreateStep.Memory] = Clock.Now();

        // The typed API creates the vCPU and maps its run block in one call;
        // the C peer's separate run-mmap step is inside this one here.
        Vcpu vcpu = vm.CreateVcpu(0);
        if (timed)
            steps[(int)CreateStep.Vcpu] = Clock.Now();

        KvmSregs sregs = vcpu.GetSregs();
        sregs.Cs = FlatSegment(selector: 0x08, type: 0xb);
        sregs.Ds = FlatSegment(selector: 0x10, type: 0x3);
        sregs.Es = sregs.Fs = sregs.Gs = sregs.Ss = sregs.Ds;
        sregs.Cr0 |= 1; // PE, paging stays off
        vcpu.SetSregs(sregs);
        vcpu.SetRegs(new KvmRegs { Rip = CodeAddress, Rflags = 0x2 });
        if (timed)
            steps[(int)CreateStep.Regs] = Clock.Now();

        return new FlatGuestVm(vm, memory, vcpu);
    }

    private static KvmSegment FlatSegment(ushort selector, byte type) => new()
    {
        Base = 0,
        Limit = 0xffffffff,
        Selector = selector,
        Type = type,
        Present = 1,
        Dpl = 0,
        Db = 1,
        S = 1,
        G = 1,
    };

    /// <summary>The C peer's teardown order: run block and vCPU, VM, then guest memory.</summary>
    public void Dispose()
    {
        Vcpu.Dispose();
        Vm.Dispose();
        Memory.Dispose();
    }

    public BenchException UnexpectedExit(RunResult result, string wanted)
    {
        ref KvmRun run = ref Vcpu.RunBlock;
        string detail = result.Reason switch
        {
            _ when result.Interrupted => $" (KVM_RUN returned {result.Errno})",
            KvmExitReason.Io => $" (port 0x{run.Io.Port:x} dir {run.Io.Direction} size {run.Io.Size} count {run.Io.Count})",
            KvmExitReason.Mmio => $" (gpa 0x{run.Mmio.PhysAddr:x} len {run.Mmio.Len} write {run.Mmio.IsWrite})",
            KvmExitReason.InternalError => $" (suberror {run.Internal.Suberror})",
            _ => "",
        };
        return new BenchException($"KVM_RUN: unexpected exit {(uint)result.Reason} ({result.Reason}), wanted {wanted}{detail} at rip 0x{Vcpu.GetRegs().Rip:x}");
    }
}

/// <summary>The timed steps of <see cref="FlatGuestVm.Create"/>, named as the C peer names them.</summary>
internal enum CreateStep
{
    Vm,
    Memory,
    Vcpu,
    Regs,
    Count,
}
