using KvmSharp.Abi;
using KvmSharp.Soft.Cpu;
using KvmSharp.Soft.Model;

namespace KvmSharp.Soft.Vcpu;

// KVM_RUN: runs the CPU on the calling thread until something needs userspace.
internal sealed unsafe partial class SoftVcpu
{
    /// <summary>
    /// The CPU returns to this loop at least this often, to see an
    /// immediate_exit another thread set while the vCPU runs (a kick).
    /// </summary>
    private const long KickPollInstructions = 200_000;

    private int _inRun;
    private long _resyncRequested;
    private long _resyncDone;
    private int _pendingInBytes;
    private bool _pendingMmioRead;

    /// <summary>Exits by reason since creation, for summaries and tests.</summary>
    public long[] ExitCounts { get; } = new long[64];

    private int Run()
    {
        KvmRun* run = _run;
        _hasRun = true;
        // KVM polls immediate_exit once on entry and returns EINTR without touching exit_reason.
        if (run->ImmediateExit != 0)
            return -(int)Errno.EINTR;
        // Without an in-kernel local APIC, CR8 comes from the run block on every entry.
        if ((run->Cr8 & ~0xfUL) != 0)
            return -(int)Errno.EINVAL;
        Cpu.Cr8 = run->Cr8;
        CompleteUserspaceAccess(run);
        Cpu.RequestInterruptWindow = run->RequestInterruptWindow != 0;

        Interlocked.Exchange(ref _inRun, 1);
        try
        {
            // An AP that has not seen INIT makes one wait per KVM_RUN, then
            // returns EAGAIN for userspace to run it again (KVM does the same).
            if (Apic is not null && _mpState == KvmMpState.Uninitialized)
                return WaitWhileUninitialized(run);
            Resynchronize();
            Cpu.ConsumeStopRequest();
            while (true)
            {
                if (Apic is not null && !WaitUntilRunnable(run))
                    return Interrupted(run);
                UpdateKvmclockIfNeeded();
                CpuExitReason reason = Cpu.Run(KickPollInstructions);
                if (reason == CpuExitReason.Io && TryServePortInKernel(ref Cpu.Exit))
                    continue;
                if (reason == CpuExitReason.Mmio && TryServeMmioInKernel(ref Cpu.Exit))
                    continue;
                if (reason == CpuExitReason.Hlt && Apic is not null)
                {
                    _mpState = KvmMpState.Halted;
                    continue;
                }
                if (reason == CpuExitReason.Stopped || reason == CpuExitReason.BudgetExhausted)
                {
                    // Soft sees immediate_exit at any time, not only on entry as
                    // KVM does: a kicker need not send a signal to stop it.
                    bool kicked = Volatile.Read(ref run->ImmediateExit) != 0;
                    // A stop without a kick was for a memory resync (perhaps already
                    // done) or an INIT, which the top of the loop handles.
                    if (Resynchronize() | !kicked)
                        continue;
                    return Interrupted(run);
                }
                ReportExit(run, reason);
                SaveRunState(run);
                return 0;
            }
        }
        finally
        {
            Volatile.Write(ref _inRun, 0);
        }
    }

    /// <summary>KVM_RUN's answer to a kick: EINTR with exit reason KVM_EXIT_INTR.</summary>
    private int Interrupted(KvmRun* run)
    {
        run->ExitReason = KvmExitReason.Intr;
        Count(KvmExitReason.Intr);
        SaveRunState(run);
        return -(int)Errno.EINTR;
    }

    /// <summary>The data userspace wrote for the previous IN or MMIO read goes into the CPU, which then retires that instruction.</summary>
    private void CompleteUserspaceAccess(KvmRun* run)
    {
        if (_pendingInBytes > 0)
        {
            new ReadOnlySpan<byte>((byte*)run + SoftLimits.PioDataOffset, _pendingInBytes).CopyTo(Cpu.IoData);
            _pendingInBytes = 0;
        }
        if (_pendingMmioRead)
        {
            Cpu.MmioReadData = *(ulong*)run->Mmio.Data;
            _pendingMmioRead = false;
        }
    }

    private void ReportExit(KvmRun* run, CpuExitReason reason)
    {
        ref CpuExitInfo exit = ref Cpu.Exit;
        switch (reason)
        {
            case CpuExitReason.Io:
                run->ExitReason = KvmExitReason.Io;
                run->Io = new KvmRunIo
                {
                    Direction = exit.IoIsOut ? (byte)KvmConstants.KVM_RUN_IO_DIRECTION_OUT : (byte)KvmConstants.KVM_RUN_IO_DIRECTION_IN,
                    Size = exit.IoSize,
                    Port = exit.IoPort,
                    Count = exit.IoCount,
                    DataOffset = SoftLimits.PioDataOffset,
                };
                int bytes = exit.IoSize * (int)exit.IoCount;
                var data = new Span<byte>((byte*)run + SoftLimits.PioDataOffset, bytes);
                if (exit.IoIsOut)
                    Cpu.IoData.AsSpan(0, bytes).CopyTo(data);
                else
                    _pendingInBytes = bytes;
                break;
            case CpuExitReason.Mmio:
                run->ExitReason = KvmExitReason.Mmio;
                run->Mmio.PhysAddr = exit.MmioAddress;
                run->Mmio.Len = exit.MmioSize;
                run->Mmio.IsWrite = exit.MmioIsWrite ? (byte)1 : (byte)0;
                *(ulong*)run->Mmio.Data = exit.MmioIsWrite ? exit.MmioData : 0;
                _pendingMmioRead = !exit.MmioIsWrite;
                break;
            case CpuExitReason.Hlt:
                run->ExitReason = KvmExitReason.Hlt;
                break;
            case CpuExitReason.Shutdown:
                run->ExitReason = KvmExitReason.Shutdown;
                break;
            case CpuExitReason.Debug:
                run->ExitReason = KvmExitReason.Debug;
                run->Debug.Arch = new KvmDebugExitArch { Exception = exit.DebugException, Pc = exit.DebugPc, Dr6 = exit.DebugDr6, Dr7 = Cpu.Dr7 };
                break;
            case CpuExitReason.InterruptWindowOpen:
                run->ExitReason = KvmExitReason.IrqWindowOpen;
                break;
            default:
                // What the CPU cannot execute ends the run the way KVM's emulator failures do.
                run->ExitReason = KvmExitReason.InternalError;
                run->Internal.Suberror = KvmConstants.KVM_INTERNAL_ERROR_EMULATION;
                run->Internal.Ndata = 0;
                LastInternalError = exit.InternalError;
                break;
        }
        Count(run->ExitReason);
    }

    /// <summary>What Soft could not execute at the last internal-error exit, for diagnostics.</summary>
    public string? LastInternalError { get; private set; }

    private void Count(KvmExitReason reason) => ExitCounts[(int)reason & 63]++;

    /// <summary>The fields KVM refreshes in kvm_run on every return (post_kvm_run_save).</summary>
    private void SaveRunState(KvmRun* run)
    {
        run->IfFlag = Cpu.InterruptFlag ? (byte)1 : (byte)0;
        run->Cr8 = Cpu.Cr8;
        run->ApicBase = Apic?.BaseMsr ?? Cpu.ApicBase;
        run->ReadyForInterruptInjection = Cpu.ReadyForInterruptInjection ? (byte)1 : (byte)0;
        run->Flags = 0;
    }

    /// <summary>Asks this vCPU to drop cached host pointers; returns the ticket to wait for.</summary>
    public long RequestMemoryResync()
    {
        long ticket = Interlocked.Increment(ref _resyncRequested);
        if (Volatile.Read(ref _inRun) != 0)
        {
            Cpu.RequestStop();
            // A vCPU asleep in HLT or waiting for INIT/SIPI resynchronizes as it wakes.
            _wake.Set();
        }
        return ticket;
    }

    /// <summary>Returns once this vCPU has dropped its cached pointers, or is not running (it will on entry).</summary>
    public void WaitForMemoryResync(long ticket)
    {
        var spinner = new SpinWait();
        while (Volatile.Read(ref _inRun) != 0 && Volatile.Read(ref _resyncDone) < ticket)
            spinner.SpinOnce();
    }

    /// <summary>On the vCPU thread: flushes the TLB and code cache if the memory map changed.</summary>
    private bool Resynchronize()
    {
        long requested = Volatile.Read(ref _resyncRequested);
        if (requested == Volatile.Read(ref _resyncDone))
            return false;
        Cpu.FlushTlb();
        Cpu.InvalidateCodeCache();
        Volatile.Write(ref _resyncDone, requested);
        return true;
    }
}
