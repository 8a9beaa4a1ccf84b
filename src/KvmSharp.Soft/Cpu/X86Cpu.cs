using System.Diagnostics;
using System.Runtime.CompilerServices;
using Iced.Intel;

namespace KvmSharp.Soft.Cpu;

/// <summary>
/// A software x86-64 CPU. It knows nothing about KVM: the kernel sets the state fields, calls
/// <see cref="NotifyStateChanged"/> after changing control/segment state behind the CPU's back, then calls
/// <see cref="Run"/> and inspects <see cref="Exit"/>.
/// </summary>
public sealed unsafe partial class X86Cpu
{
    // ---- Architectural state -------------------------------------------------------------------

    public GeneralRegisters Gpr;
    public ulong Rip;
    // Rflags is a property over lazily computed arithmetic flags: X86Cpu.Flags.cs.
    public readonly SegmentCache[] Segments = new SegmentCache[8];
    public DescriptorTable Gdtr;
    public DescriptorTable Idtr = new() { Limit = 0xFFFF };
    public ulong Cr0 = X86.Cr0Et | X86.Cr0Cd | X86.Cr0Nw;
    public ulong Cr2;
    public ulong Cr3;
    public ulong Cr4;
    /// <summary>Task priority (CR8), bits 3:0.</summary>
    public ulong Cr8;
    public ulong Efer;
    public ulong Xcr0 = 1;
    public ulong Dr0, Dr1, Dr2, Dr3;
    public ulong Dr6 = X86.Dr6Fixed;
    public ulong Dr7 = X86.Dr7Fixed;

    public ulong Star, Lstar, Cstar, Sfmask, KernelGsBase;
    public ulong SysenterCs, SysenterEsp, SysenterEip;
    public ulong Pat = 0x0007040600070406;
    public ulong ApicBase = 0xFEE00900;
    public ulong MiscEnable = 1;
    public ulong TscAux;
    /// <summary>Added to the free-running clock to form the guest TSC. WRMSR to IA32_TSC adjusts it.</summary>
    public long TscOffset;
    /// <summary>Guest TSC frequency in Hz.</summary>
    public long TscFrequency = 1_000_000_000;

    public FpuState Fpu = FpuState.PowerOn;

    /// <summary>Number of instructions retired since creation.</summary>
    public ulong InstructionsRetired;

    // ---- Events ---------------------------------------------------------------------------------

    /// <summary>Interrupt shadow: <see cref="X86.ShadowMovSs"/> and/or <see cref="X86.ShadowSti"/> (KVM's encoding).</summary>
    public byte InterruptShadow;
    /// <summary>External interrupt vector queued by the kernel (KVM_INTERRUPT), or -1.</summary>
    public int PendingInterruptVector = -1;
    public bool NmiPending;
    /// <summary>NMIs are blocked until the next IRET.</summary>
    public bool NmiMasked;
    /// <summary>Exception the kernel injected (vcpu events), or -1.</summary>
    public int PendingExceptionVector = -1;
    public uint PendingExceptionErrorCode;
    public bool PendingExceptionHasErrorCode;
    /// <summary>When true, <see cref="Run"/> exits with <see cref="CpuExitReason.InterruptWindowOpen"/> as soon as an interrupt could be injected.</summary>
    public bool RequestInterruptWindow;
    /// <summary>Set by HLT; cleared when an interrupt or NMI is delivered or when <see cref="Run"/> starts.</summary>
    public bool Halted;
    public GuestDebugSettings GuestDebug;

    /// <summary>Optional in-kernel interrupt controller, consulted when IF=1 and <see cref="SignalInterrupt"/> was called.</summary>
    public IInterruptSource? InterruptSource;

    /// <summary>Answers for CPUID, as set by KVM_SET_CPUID2.</summary>
    public CpuidEntry[] Cpuid = [];

    /// <summary>Handles MSRs the CPU does not implement; returns false to raise #GP.</summary>
    public MsrHandler? UnknownMsrRead;
    public MsrWriteHandler? UnknownMsrWrite;

    // ---- Exit-completion policy (match KVM's observable RIP) ---------------------------------

    /// <summary>OUT exits leave RIP at the OUT; it retires on the next Run (KVM's fast PIO behaviour).</summary>
    public bool DeferOutRetire = true;
    /// <summary>OUTS exits retire (RIP, RSI, RCX updated) before exiting (KVM's emulator behaviour).</summary>
    public bool DeferOutsRetire;
    /// <summary>MMIO write exits retire before exiting (KVM's emulator behaviour).</summary>
    public bool DeferMmioWriteRetire;

    /// <summary>Data area for port I/O exits: OUT data is here at the exit; IN data must be stored here before the next Run.</summary>
    public readonly byte[] IoData = GC.AllocateArray<byte>(4096, pinned: true);
    /// <summary>The kernel stores the result of an MMIO read exit here before the next Run.</summary>
    public ulong MmioReadData;

    public CpuExitInfo Exit;

    private readonly IGuestMemory _memory;
    private volatile bool _stopRequested;
    private volatile bool _interruptSignaled;

    public X86Cpu(IGuestMemory memory)
    {
        _memory = memory;
        Reset();
    }

    /// <summary>Power-on/INIT state: real mode at F000:FFF0.</summary>
    public void Reset()
    {
        for (int i = 0; i < 16; i++) Gpr[i] = 0;
        Gpr[2] = 0x600; // EDX holds the processor signature after reset.
        Rip = 0xFFF0;
        Rflags = X86.FlagReserved1;
        for (int i = 0; i < 6; i++) Segments[i] = SegmentCache.RealMode(0);
        Segments[(int)SegmentIndex.CS] = SegmentCache.RealMode(0xF000, type: 0xB);
        Segments[(int)SegmentIndex.CS].Base = 0xFFFF0000;
        Segments[(int)SegmentIndex.Ldtr] = new SegmentCache { Limit = 0xFFFF, Type = 2, Present = true };
        Segments[(int)SegmentIndex.Tr] = new SegmentCache { Limit = 0xFFFF, Type = 0xB, Present = true };
        Gdtr = new DescriptorTable { Limit = 0xFFFF };
        Idtr = new DescriptorTable { Limit = 0xFFFF };
        Cr0 = X86.Cr0Et | X86.Cr0Cd | X86.Cr0Nw;
        Cr2 = Cr3 = Cr4 = Cr8 = Efer = 0;
        Xcr0 = 1;
        Dr0 = Dr1 = Dr2 = Dr3 = 0;
        Dr6 = X86.Dr6Fixed;
        Dr7 = X86.Dr7Fixed;
        Fpu = FpuState.PowerOn;
        InterruptShadow = 0;
        PendingInterruptVector = -1;
        PendingExceptionVector = -1;
        NmiPending = NmiMasked = Halted = false;
        _pending = PendingKind.None;
        NotifyStateChanged();
    }

    // ---- Register conveniences for tests and the kernel ----------------------------------------

    public ulong Rax { get => Gpr[0]; set => Gpr[0] = value; }
    public ulong Rcx { get => Gpr[1]; set => Gpr[1] = value; }
    public ulong Rdx { get => Gpr[2]; set => Gpr[2] = value; }
    public ulong Rbx { get => Gpr[3]; set => Gpr[3] = value; }
    public ulong Rsp { get => Gpr[4]; set => Gpr[4] = value; }
    public ulong Rbp { get => Gpr[5]; set => Gpr[5] = value; }
    public ulong Rsi { get => Gpr[6]; set => Gpr[6] = value; }
    public ulong Rdi { get => Gpr[7]; set => Gpr[7] = value; }
    public ref SegmentCache Cs => ref Segments[(int)SegmentIndex.CS];
    public ref SegmentCache Ss => ref Segments[(int)SegmentIndex.SS];
    public ref SegmentCache Ds => ref Segments[(int)SegmentIndex.DS];
    public ref SegmentCache Es => ref Segments[(int)SegmentIndex.ES];
    public ref SegmentCache Fs => ref Segments[(int)SegmentIndex.FS];
    public ref SegmentCache Gs => ref Segments[(int)SegmentIndex.GS];
    public ref SegmentCache Tr => ref Segments[(int)SegmentIndex.Tr];
    public ref SegmentCache Ldtr => ref Segments[(int)SegmentIndex.Ldtr];

    /// <summary>Current privilege level (SS.DPL in protected mode, as VMX defines it).</summary>
    public int Cpl => _cpl;
    /// <summary>Code size the decoder uses now: 16, 32 or 64.</summary>
    public int Bitness => _bitness;
    /// <summary>True when the kernel may inject an external interrupt now (KVM's ready_for_interrupt_injection).</summary>
    public bool ReadyForInterruptInjection => (_rflags & X86.FlagInterrupt) != 0 && InterruptShadow == 0 && PendingInterruptVector < 0;
    public bool InterruptFlag => (_rflags & X86.FlagInterrupt) != 0;

    // ---- Cached mode ----------------------------------------------------------------------------

    private int _cpl;
    private int _bitness = 16;
    private bool _protectedMode;
    private bool _longMode;
    private bool _pagingEnabled;
    /// <summary>64-bit mode proper (long mode with CS.L=1).</summary>
    private bool _mode64;

    /// <summary>
    /// Recomputes cached mode after the kernel (or the CPU) changed CR0/CR3/CR4/EFER/segments, and flushes the TLB.
    /// </summary>
    public void NotifyStateChanged()
    {
        RefreshMode();
        FlushTlb();
    }

    private void RefreshMode()
    {
        _translationGeneration++;
        _protectedMode = (Cr0 & X86.Cr0Pe) != 0;
        _pagingEnabled = (Cr0 & X86.Cr0Pg) != 0;
        _longMode = (Efer & X86.EferLma) != 0;
        ref SegmentCache cs = ref Segments[(int)SegmentIndex.CS];
        _mode64 = _longMode && cs.L;
        _bitness = _mode64 ? 64 : cs.Db ? 32 : 16;
        _ripMask = _bitness == 64 ? ulong.MaxValue : _bitness == 32 ? 0xFFFFFFFF : 0xFFFF;
        _canonicalShift = (Cr4 & X86.Cr4La57) != 0 ? 7 : 16;
        _cpl = !_protectedMode ? 0 : (Rflags & X86.FlagVm86) != 0 ? 3 : Segments[(int)SegmentIndex.SS].Dpl;
    }

    /// <summary>Asks a running <see cref="Run"/> to return <see cref="CpuExitReason.Stopped"/> soon. Any thread may call it.</summary>
    public void RequestStop() => _stopRequested = true;

    private volatile bool _tlbFlushRequested;

    /// <summary>
    /// Asks the CPU to drop its TLB (and cached host pointers) at the next block boundary or Run entry. Any thread may call
    /// it (e.g. when dirty logging is re-armed or a slot is removed); to know the flush happened, also
    /// <see cref="RequestStop"/> and wait for <see cref="Run"/> to return.
    /// </summary>
    public void RequestTlbFlush() => _tlbFlushRequested = true;

    private void ServiceTlbFlushRequest()
    {
        if (!_tlbFlushRequested) return;
        _tlbFlushRequested = false;
        FlushTlb();
    }

    /// <summary>When set, MOV from CR8 reads the task priority from the in-kernel local APIC.</summary>
    public Func<ulong>? ReadTaskPriority;
    /// <summary>IA32_APIC_BASE when an in-kernel local APIC owns it; a false write means #GP.</summary>
    public Func<ulong>? ReadApicBase;
    public Func<ulong, bool>? WriteApicBase;
    /// <summary>When set, MOV to CR8 forwards the task priority to the in-kernel local APIC.</summary>
    public Action<ulong>? WriteTaskPriority;

    /// <summary>Tells the CPU that <see cref="InterruptSource"/> may have an interrupt for it. Any thread may call it.</summary>
    public void SignalInterrupt() => _interruptSignaled = true;

    /// <summary>Clears a stop request that has not been consumed (e.g. KVM's immediate_exit handling).</summary>
    public bool ConsumeStopRequest()
    {
        bool was = _stopRequested;
        _stopRequested = false;
        return was;
    }

    // ---- Run loop -------------------------------------------------------------------------------

    /// <summary>Start-of-instruction RIP, for faults and exits.</summary>
    private ulong _instructionRip;
    /// <summary>RIP the current instruction retires to; branches overwrite it.</summary>
    private ulong _nextRip;
    /// <summary>Set by instructions that change mode, flags that matter to the loop, or code bytes.</summary>
    private bool _endBlock;
    /// <summary>Set when an exit has been prepared in <see cref="Exit"/>.</summary>
    private bool _exitPending;

    /// <summary>
    /// Executes guest instructions until an exit. At most <paramref name="instructionBudget"/> instructions retire.
    /// </summary>
    public CpuExitReason Run(long instructionBudget = long.MaxValue)
    {
        Exit.Reason = CpuExitReason.None;
        _exitPending = false;
        Halted = false;
        // The VMM may have rewritten guest code while the CPU was out of Run.
        _verifyEpoch++;
        ServiceTlbFlushRequest();
        RefreshDataBreakpoints();
        long remaining = instructionBudget;

        if (_pending != PendingKind.None)
        {
            try
            {
                CompletePending(ref remaining);
                if (_pendingMmioWriteCount != 0 && !_exitPending && ReportNextMmioWrite())
                    _pending = PendingKind.MmioWrites;
            }
            catch (GuestFault fault)
            {
                HandleFault(fault);
            }
            catch (CpuExitException)
            {
            }
            catch (UnsupportedInstructionException unsupported)
            {
                SetInternalError(unsupported.Message);
            }
            if (_exitPending)
                return Exit.Reason;
        }

        while (true)
        {
            if (_stopRequested)
            {
                _stopRequested = false;
                return SetExit(CpuExitReason.Stopped);
            }
            if (remaining <= 0)
                return SetExit(CpuExitReason.BudgetExhausted);
            ServiceTlbFlushRequest();

            try
            {
                if (DeliverPendingEvents())
                {
                    remaining--;
                    if (_exitPending) return Exit.Reason;
                    continue;
                }
                if (RequestInterruptWindow && ReadyForInterruptInjection && !NmiPending)
                    return SetExit(CpuExitReason.InterruptWindowOpen);

                ExecuteBlock(ref remaining);
            }
            catch (GuestFault fault)
            {
                // Faults count against the budget so a guest faulting forever (e.g. on every handler fetch) still
                // returns from a bounded Run.
                remaining--;
                HandleFault(fault);
            }
            catch (CpuExitException)
            {
                // The exit is already described in Exit.
            }
            catch (UnsupportedInstructionException unsupported)
            {
                SetInternalError(unsupported.Message);
            }
            catch (Exception bug) when (bug is not OutOfMemoryException)
            {
                // A defect in the CPU must not take the host down: report it like KVM's emulation failure.
                SetInternalError($"emulator failure at RIP 0x{_instructionRip:x}: {bug.GetType().Name}: {bug.Message}");
            }
            if (_exitPending)
                return Exit.Reason;
        }
    }

    private CpuExitReason SetExit(CpuExitReason reason)
    {
        Exit.Reason = reason;
        _exitPending = true;
        return reason;
    }

    private void SetInternalError(string message)
    {
        Rip = _instructionRip;
        _mmioReplayCount = 0;
        _mmioReplayIndex = 0;
        Exit.InternalError = message;
        SetExit(CpuExitReason.InternalError);
    }

    private void HandleFault(GuestFault fault)
    {
        Rip = _instructionRip;
        _mmioReplayCount = 0;
        _mmioReplayIndex = 0;
        _pendingMmioWriteCount = 0;
        _guestDataHits = 0;
        _debuggerDataHits = 0;
        DeliverException(fault.Vector, fault.ErrorCode, fault.HasErrorCode, InterruptSourceKind.Exception);
    }

    /// <summary>
    /// Runs decoded blocks back to back while nothing needs the outer loop's attention. This loop is the part a
    /// block translator would replace: it only needs <see cref="LookupBlock"/>, <see cref="Execute"/> and the retire rules.
    /// Kept out of <see cref="Run"/>: inlined there, its loop variables were spilled to the stack for lack of registers.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void ExecuteBlock(ref long remaining)
    {
        bool eventsWaiting = PendingInterruptVector >= 0 || NmiPending || PendingExceptionVector >= 0 || RequestInterruptWindow || _interruptSignaled;
        while (true)
        {
            _instructionRip = Rip;
            DecodedBlock block = LookupBlock();
            bool careful = (_rflags & (X86.FlagTrap | X86.FlagResume)) != 0 || GuestDebug.Enabled || (Dr7 & 0xFF) != 0 || InterruptShadow != 0;
            if (careful)
            {
                ExecuteCarefully(block);
                remaining--;
                return;
            }
            Instruction[] instructions = block.Instructions;
            FastOp[] fastOps = block.FastOps;
            int count = block.Count;
            if (count > remaining) count = (int)remaining;

            ref ulong registers = ref Unsafe.As<GeneralRegisters, ulong>(ref Gpr);
            for (int i = 0; i < count; i++)
            {
                ref FastOp fast = ref fastOps[i];
                ulong rip = Rip;
                _instructionRip = rip;
                ulong fallThrough = (rip + fast.Length) & _ripMask;
                _nextRip = fallThrough;
                remaining--;
                if (ExecuteRegisterOp(ref fast, ref registers))
                {
                    // Register-only shapes cannot exit, touch MMIO or code: they retire at once.
                    Rip = _nextRip;
                    InstructionsRetired++;
                    if (_nextRip != fallThrough)
                        break;
                    continue;
                }
                ExecuteFast(ref fast, ref instructions[i]);
                if ((_exitPending | _notRetired | _endBlock) || (_pendingMmioWriteCount | _mmioReplayCount) != 0)
                {
                    if (_exitPending || _notRetired || _pendingMmioWriteCount != 0)
                    {
                        FinishSpecialInstruction();
                        _endBlock = false;
                        return;
                    }
                    Rip = _nextRip;
                    InstructionsRetired++;
                    _mmioReplayCount = 0;
                    _mmioReplayIndex = 0;
                    if (_endBlock)
                    {
                        // Serializing and mode-changing instructions end here; code is re-verified after them.
                        _endBlock = false;
                        _verifyEpoch++;
                        return;
                    }
                    if (_nextRip != fallThrough)
                        break;
                    continue;
                }
                Rip = _nextRip;
                InstructionsRetired++;
                if (_nextRip != fallThrough)
                    break;
            }
            if (eventsWaiting || remaining <= 0 || _stopRequested || _interruptSignaled || _tlbFlushRequested)
                return;
        }
    }

    /// <summary>One instruction with breakpoints, single-step traps and interrupt-shadow bookkeeping.</summary>
    private void ExecuteCarefully(DecodedBlock block)
    {
        ref Instruction instruction = ref block.Instructions[0];
        _instructionRip = Rip;
        _keepResumeFlag = false;
        if (CheckInstructionBreakpoints())
            return;
        bool trapAfter = (Rflags & X86.FlagTrap) != 0;
        byte shadowBefore = InterruptShadow;
        _nextRip = (Rip + (ulong)instruction.Length) & _ripMask;
        ref FastOp fast = ref block.FastOps[0];
        if (fast.Kind != FastKind.None) ExecuteFast(ref fast, ref instruction);
        else Execute(ref instruction);
        if (_exitPending || _notRetired || _pendingMmioWriteCount != 0)
        {
            FinishSpecialInstruction();
            FinishCarefulInstruction(shadowBefore, trapAfter);
            _endBlock = false;
            return;
        }
        Rip = _nextRip;
        InstructionsRetired++;
        _mmioReplayCount = 0;
        _mmioReplayIndex = 0;
        if (_endBlock) _verifyEpoch++;
        FinishCarefulInstruction(shadowBefore, trapAfter);
    }

    private void FinishCarefulInstruction(byte shadowBefore, bool trapAfter)
    {
        _endBlock = false;
        if ((_guestDataHits | _debuggerDataHits) != 0 && !_exitPending)
            DeliverDataBreakpoints();
        if (shadowBefore != 0 && InterruptShadow == shadowBefore)
            InterruptShadow = 0;
        if (!_keepResumeFlag) Rflags &= ~X86.FlagResume;
        if (_pendingMmioWriteCount != 0 || (_exitPending && Exit.Reason != CpuExitReason.Hlt))
            return;
        if (trapAfter && (shadowBefore & X86.ShadowMovSs) == 0)
        {
            Dr6 |= X86.Dr6SingleStep;
            if (_exitPending)
            {
                // A HLT under TF: KVM queues the single-step #DB and still exits (or halts in-kernel); the
                // trap is delivered on the next entry and shows as an injected exception until then.
                PendingExceptionVector = X86.VectorDebug;
                PendingExceptionHasErrorCode = false;
                PendingExceptionErrorCode = 0;
            }
            else
            {
                DeliverException(X86.VectorDebug, 0, false, InterruptSourceKind.Exception);
            }
        }
        if (GuestDebug.Enabled && GuestDebug.SingleStep && !_exitPending)
        {
            Exit.DebugDr6 = X86.Dr6Fixed | X86.Dr6SingleStep;
            Exit.DebugException = X86.VectorDebug;
            Exit.DebugPc = LinearRip();
            SetExit(CpuExitReason.Debug);
        }
    }

    /// <summary>Set by an instruction that stops unfinished with RF deliberately set (see <see cref="ExecuteString"/>).</summary>
    private bool _keepResumeFlag;

    private ulong _breakpointResumeRip = ulong.MaxValue;

    /// <summary>Instruction breakpoints are faults: they fire before the instruction executes.</summary>
    private bool CheckInstructionBreakpoints()
    {
        ulong linear = LinearRip();
        if (GuestDebug.Enabled && GuestDebug.UseHardwareBreakpoints)
        {
            if (_breakpointResumeRip == linear)
            {
                _breakpointResumeRip = ulong.MaxValue;
            }
            else
            {
                int hit = MatchExecuteBreakpoint(GuestDebug.Dr7, linear, GuestDebug.Dr0, GuestDebug.Dr1, GuestDebug.Dr2, GuestDebug.Dr3);
                if (hit != 0)
                {
                    _breakpointResumeRip = linear;
                    Exit.DebugDr6 = X86.Dr6Fixed | (ulong)hit;
                    Exit.DebugException = X86.VectorDebug;
                    Exit.DebugPc = linear;
                    SetExit(CpuExitReason.Debug);
                    return true;
                }
            }
        }
        if ((Dr7 & 0xFF) != 0 && (Rflags & X86.FlagResume) == 0)
        {
            int hit = MatchExecuteBreakpoint(Dr7, linear, Dr0, Dr1, Dr2, Dr3);
            if (hit != 0)
            {
                Dr6 = (Dr6 & ~0xFUL) | (uint)hit;
                DeliverException(X86.VectorDebug, 0, false, InterruptSourceKind.Exception);
                return true;
            }
        }
        return false;
    }

    private static int MatchExecuteBreakpoint(ulong dr7, ulong linear, ulong dr0, ulong dr1, ulong dr2, ulong dr3)
    {
        int hits = 0;
        for (int n = 0; n < 4; n++)
        {
            bool enabled = ((dr7 >> (n * 2)) & 3) != 0;
            bool executeType = ((dr7 >> (16 + n * 4)) & 3) == 0;
            if (!enabled || !executeType) continue;
            ulong address = n switch { 0 => dr0, 1 => dr1, 2 => dr2, _ => dr3 };
            if (address == linear) hits |= 1 << n;
        }
        return hits;
    }

    private ulong LinearRip() => _mode64 ? Rip : (Segments[(int)SegmentIndex.CS].Base + Rip) & 0xFFFFFFFF;

    /// <summary>RIP wraps at the code size: 16-bit IP, 32-bit EIP.</summary>
    private ulong _ripMask = 0xFFFF;

    /// <summary>Current guest TSC value.</summary>
    public ulong ReadTsc()
    {
        long ticks = Stopwatch.GetTimestamp();
        UInt128 scaled = (UInt128)(ulong)ticks * (ulong)TscFrequency / (ulong)Stopwatch.Frequency;
        return (ulong)scaled + (ulong)TscOffset;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static GuestFault Fault(byte vector) => new(vector, 0, false);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static GuestFault Fault(byte vector, uint errorCode) => new(vector, errorCode, true);

    private static GuestFault Ud() => Fault(X86.VectorInvalidOpcode);
    private static GuestFault Gp0() => Fault(X86.VectorGeneralProtection, 0);
}

/// <summary>An in-kernel interrupt controller (local APIC / PIC) the CPU asks for vectors.</summary>
public interface IInterruptSource
{
    /// <summary>Returns true and the vector when an interrupt is deliverable; acknowledging it.</summary>
    bool TryAcknowledge(out byte vector);
}

public delegate bool MsrHandler(uint msr, out ulong value);
public delegate bool MsrWriteHandler(uint msr, ulong value);

/// <summary>A guest exception raised while executing an instruction. Never escapes <see cref="X86Cpu.Run"/>.</summary>
internal sealed class GuestFault(byte vector, uint errorCode, bool hasErrorCode) : Exception
{
    public byte Vector { get; } = vector;
    public uint ErrorCode { get; } = errorCode;
    public bool HasErrorCode { get; } = hasErrorCode;
}

/// <summary>Unwinds an instruction that must exit to the kernel before it can complete (MMIO read). Never escapes Run.</summary>
internal sealed class CpuExitException : Exception
{
    public static readonly CpuExitException Instance = new();
}

/// <summary>The CPU met something it cannot do; becomes an internal-error exit. Never escapes Run.</summary>
internal sealed class UnsupportedInstructionException(string message) : Exception(message);
