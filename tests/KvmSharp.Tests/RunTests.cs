using KvmSharp.Abi;
using static Iced.Intel.AssemblerRegisters;

namespace KvmSharp.Tests;

public class RunTests
{
    [Theory]
    [MemberData(nameof(Kernels.All), MemberType = typeof(Kernels))]
    public void OutExitCarriesPortSizeAndData(string kernel)
    {
        using var kvm = Kernels.Open(kernel);
        using var guest = new RealModeGuest(kvm, a =>
        {
            a.mov(dx, 0x3f8);
            a.mov(al, 0x41);
            a.@out(dx, al);
            a.mov(ax, 0x4243);
            a.@out(dx, ax);
            a.hlt();
        });

        var first = guest.Vcpu.Run();
        Assert.Equal(KvmExitReason.Io, first.Reason);
        var io = guest.Vcpu.Io;
        Assert.True(io.IsOut);
        Assert.Equal(0x3f8, io.Port);
        Assert.Equal(1, io.Size);
        Assert.Equal(1u, io.Count);
        Assert.Equal(new byte[] { 0x41 }, io.Data.ToArray());

        Assert.Equal(KvmExitReason.Io, guest.Vcpu.Run().Reason);
        Assert.Equal(2, guest.Vcpu.Io.Size);
        Assert.Equal(new byte[] { 0x43, 0x42 }, guest.Vcpu.Io.Data.ToArray());

        Assert.Equal(KvmExitReason.Hlt, guest.Vcpu.Run().Reason);
    }
}

public class RunCompletionTests
{
    [Theory]
    [MemberData(nameof(Kernels.All), MemberType = typeof(Kernels))]
    public void InIsCompletedWithTheDataUserspaceSupplies(string kernel)
    {
        using var kvm = Kernels.Open(kernel);
        using var guest = new RealModeGuest(kvm, a =>
        {
            a.mov(dx, 0x60);
            a.@in(ax, dx);
            a.hlt();
        });
        Assert.Equal(KvmExitReason.Io, guest.Vcpu.Run().Reason);
        var io = guest.Vcpu.Io;
        Assert.False(io.IsOut);
        Assert.Equal(0x60, io.Port);
        Assert.Equal(2, io.Size);
        io.Data[0] = 0x34;
        io.Data[1] = 0x12;
        Assert.Equal(KvmExitReason.Hlt, guest.Vcpu.Run().Reason);
        Assert.Equal(0x1234UL, guest.Vcpu.GetRegs().Rax & 0xffff);
    }

    [Theory]
    [MemberData(nameof(Kernels.All), MemberType = typeof(Kernels))]
    public void RepOutsbReportsEveryByteInOneExitOrSeveral(string kernel)
    {
        using var kvm = Kernels.Open(kernel);
        using var guest = new RealModeGuest(kvm, a =>
        {
            a.mov(si, 0x3000);
            a.mov(cx, 5);
            a.mov(dx, 0xe9);
            a.rep.outsb();
            a.hlt();
        });
        "Hello"u8.CopyTo(guest.Memory.Span[0x3000..]);
        var seen = new List<byte>();
        KvmExitReason reason;
        while ((reason = guest.Vcpu.Run().Reason) == KvmExitReason.Io)
        {
            Assert.Equal(0xe9, guest.Vcpu.Io.Port);
            seen.AddRange(guest.Vcpu.Io.Data.ToArray());
        }
        Assert.Equal(KvmExitReason.Hlt, reason);
        Assert.Equal("Hello"u8.ToArray(), seen.ToArray());
        var regs = guest.Vcpu.GetRegs();
        Assert.Equal(0UL, regs.Rcx & 0xffff);
        Assert.Equal(0x3005UL, regs.Rsi & 0xffff);
    }

    [Theory]
    [MemberData(nameof(Kernels.All), MemberType = typeof(Kernels))]
    public void MmioReadIsCompletedOnTheNextRun(string kernel)
    {
        using var kvm = Kernels.Open(kernel);
        using var guest = new RealModeGuest(kvm, a =>
        {
            a.mov(ax, 0x1000);
            a.mov(ds, ax);
            a.mov(ebx, __dword_ptr[0x10]); // Guest physical 0x10010: beyond the 64 KiB slot.
            a.hlt();
        });
        Assert.Equal(KvmExitReason.Mmio, guest.Vcpu.Run().Reason);
        var mmio = guest.Vcpu.Mmio;
        Assert.False(mmio.IsWrite);
        Assert.Equal(0x10010UL, mmio.PhysicalAddress);
        Assert.Equal(4, mmio.Data.Length);
        new byte[] { 0x78, 0x56, 0x34, 0x12 }.CopyTo(mmio.Data);
        Assert.Equal(KvmExitReason.Hlt, guest.Vcpu.Run().Reason);
        Assert.Equal(0x12345678UL, guest.Vcpu.GetRegs().Rbx);
    }

    [Theory]
    [MemberData(nameof(Kernels.All), MemberType = typeof(Kernels))]
    public void ImmediateExitReturnsEintrWithoutRunningTheGuest(string kernel)
    {
        using var kvm = Kernels.Open(kernel);
        using var guest = new RealModeGuest(kvm, a => { a.@out(0x10, al); a.hlt(); });
        guest.Vcpu.RunBlock.ImmediateExit = 1;
        var result = guest.Vcpu.Run();
        Assert.True(result.Interrupted);
        Assert.Equal(Errno.EINTR, result.Errno);
        Assert.Equal(KvmExitReason.Intr, result.Reason);
        // KVM returns before entering the guest and leaves exit_reason at KVM_EXIT_UNKNOWN
        // (only a pending signal sets KVM_EXIT_INTR); the typed result says Intr for both.
        Assert.Equal(KvmExitReason.Unknown, guest.Vcpu.RunBlock.ExitReason);
        Assert.Equal(RealModeGuest.CodeAddress, guest.Vcpu.GetRegs().Rip);

        guest.Vcpu.RunBlock.ImmediateExit = 0;
        Assert.Equal(KvmExitReason.Io, guest.Vcpu.Run().Reason);
    }

    [Theory]
    [MemberData(nameof(Kernels.All), MemberType = typeof(Kernels))]
    public void SingleStepExitsWithDebugAfterEachInstruction(string kernel)
    {
        using var kvm = Kernels.Open(kernel);
        using var guest = new RealModeGuest(kvm, a =>
        {
            a.mov(ax, 1);   // 3 bytes
            a.inc(ax);      // 1 byte
            a.hlt();
        });
        guest.Vcpu.SetGuestDebug(new KvmGuestDebug { Control = KvmConstants.KVM_GUESTDBG_ENABLE | KvmConstants.KVM_GUESTDBG_SINGLESTEP });

        Assert.Equal(KvmExitReason.Debug, guest.Vcpu.Run().Reason);
        Assert.Equal(1u, guest.Vcpu.RunBlock.Debug.Arch.Exception); // #DB
        Assert.Equal(RealModeGuest.CodeAddress + 3, guest.Vcpu.RunBlock.Debug.Arch.Pc);
        Assert.Equal(1UL, guest.Vcpu.GetRegs().Rax & 0xffff);

        Assert.Equal(KvmExitReason.Debug, guest.Vcpu.Run().Reason);
        Assert.Equal(RealModeGuest.CodeAddress + 4, guest.Vcpu.GetRegs().Rip);
        Assert.Equal(2UL, guest.Vcpu.GetRegs().Rax & 0xffff);

        guest.Vcpu.SetGuestDebug(default);
        Assert.Equal(KvmExitReason.Hlt, guest.Vcpu.Run().Reason);
    }

    /// <summary>
    /// A HLT executed with TF set: without an in-kernel local APIC the vCPU exits at the HLT with the
    /// single-step #DB queued (an injected exception in the vcpu events), and the next KVM_RUN delivers it.
    /// </summary>
    [Theory]
    [MemberData(nameof(Kernels.All), MemberType = typeof(Kernels))]
    public void HltUnderTrapFlagExitsWithTheSingleStepTrapQueued(string kernel)
    {
        using var kvm = Kernels.Open(kernel);
        using var guest = new RealModeGuest(kvm, TrapFlagThenHlt);
        InstallDebugHandler(guest);

        Assert.Equal(KvmExitReason.Hlt, guest.Vcpu.Run().Reason);
        Assert.Equal(HltEnd, guest.Vcpu.GetRegs().Rip);
        var events = guest.Vcpu.GetVcpuEvents();
        Assert.Equal(1, events.Exception.Injected);
        Assert.Equal(1, events.Exception.Nr);

        AssertDebugHandlerRanAfterTheHlt(guest);
    }

    /// <summary>With an in-kernel local APIC the HLT halts inside the kernel, and the queued #DB wakes it at once.</summary>
    [Theory]
    [MemberData(nameof(Kernels.All), MemberType = typeof(Kernels))]
    public void HltUnderTrapFlagWithAnInKernelApicWakesForTheSingleStepTrap(string kernel)
    {
        using var kvm = Kernels.Open(kernel);
        using var guest = new RealModeGuest(kvm, TrapFlagThenHlt, withIrqchipAndPit: true);
        InstallDebugHandler(guest);
        // A vCPU that halted with the trap left undelivered would sleep forever: the kick turns that into a failure.
        using var watchdog = new Timer(_ => guest.Vcpu.Kick(), null, 5000, Timeout.Infinite);
        AssertDebugHandlerRanAfterTheHlt(guest);
    }

    private const ulong DebugHandler = 0x2000;
    private const ulong HltEnd = RealModeGuest.CodeAddress + 3 + 1 + 1;

    private static void TrapFlagThenHlt(Iced.Intel.Assembler a)
    {
        a.push(0x0102); // TF and the reserved bit 1
        a.popf();       // TF applies from the next instruction on
        a.hlt();
    }

    private static void InstallDebugHandler(RealModeGuest guest)
    {
        var handler = new Iced.Intel.Assembler(16);
        handler.mov(al, 0x42);
        handler.@out(0x80, al);
        handler.hlt();
        guest.Memory.Write(DebugHandler, RealModeGuest.Assemble(handler, DebugHandler));
        // IVT entry 1 (#DB) is offset:segment at linear 4.
        guest.Memory.Write(4, BitConverter.GetBytes((uint)DebugHandler));
    }

    private static void AssertDebugHandlerRanAfterTheHlt(RealModeGuest guest)
    {
        Assert.Equal(KvmExitReason.Io, guest.Vcpu.Run().Reason);
        Assert.Equal(0x80, guest.Vcpu.Io.Port);
        var regs = guest.Vcpu.GetRegs();
        // The interrupt frame's IP is the instruction after the HLT, and delivery cleared TF.
        Assert.Equal(0x8000UL - 6, regs.Rsp & 0xffff);
        Assert.Equal((ushort)HltEnd, BitConverter.ToUInt16(guest.Memory.Span[(0x8000 - 6)..]));
        Assert.Equal(0UL, regs.Rflags & 0x100);
        Assert.NotEqual(0UL, guest.Vcpu.GetDebugRegs().Dr6 & 0x4000); // DR6.BS
        Assert.Equal(0, guest.Vcpu.GetVcpuEvents().Exception.Injected);
    }

    [Theory]
    [MemberData(nameof(Kernels.All), MemberType = typeof(Kernels))]
    public void TripleFaultIsAShutdownExit(string kernel)
    {
        using var kvm = Kernels.Open(kernel);
        // 32-bit protected mode with an IDT limit of 0 makes every exception
        // undeliverable: #UD → #GP → #DF → shutdown.
        using var guest = new RealModeGuest(kvm, a => a.ud2());
        var sregs = guest.Vcpu.GetSregs();
        sregs.Cr0 |= 1;
        sregs.Cs = new KvmSegment { Base = 0, Limit = 0xffffffff, Selector = 8, Type = 11, Present = 1, S = 1, Db = 1, G = 1 };
        var data = new KvmSegment { Base = 0, Limit = 0xffffffff, Selector = 16, Type = 3, Present = 1, S = 1, Db = 1, G = 1 };
        sregs.Ds = sregs.Es = sregs.Ss = sregs.Fs = sregs.Gs = data;
        sregs.Idt.Limit = 0;
        guest.Vcpu.SetSregs(sregs);
        Assert.Equal(KvmExitReason.Shutdown, guest.Vcpu.Run().Reason);
    }
}

public class RemovedIoctlTests
{
    [Theory]
    [MemberData(nameof(Kernels.All), MemberType = typeof(Kernels))]
    public void SetMemoryRegionIsGoneFromTheKernel(string kernel)
    {
        using var kvm = Kernels.Open(kernel);
        using var vm = kvm.CreateVm();
        var error = Assert.Throws<KvmException>(() => vm.SetMemoryRegion(new KvmMemoryRegion { Slot = 0, MemorySize = 4096 }));
        Assert.Equal(Errno.ENOTTY, error.Errno);
        Assert.Equal("KVM_SET_MEMORY_REGION", error.Operation);
    }
}

public class KickTests
{
    [Theory]
    [MemberData(nameof(Kernels.All), MemberType = typeof(Kernels))]
    public void AnotherThreadCanKickARunningVcpuOutWithIntr(string kernel)
    {
        using var kvm = Kernels.Open(kernel);
        using var guest = new RealModeGuest(kvm, a =>
        {
            var spin = a.CreateLabel();
            a.Label(ref spin);
            a.jmp(spin);
        });
        var kicker = new Thread(() =>
        {
            Thread.Sleep(200);
            guest.Vcpu.Kick();
        });
        kicker.Start();
        var result = guest.Vcpu.Run();
        kicker.Join();
        Assert.Equal(KvmExitReason.Intr, result.Reason);
        Assert.Equal(Errno.EINTR, result.Errno);
        Assert.Equal(KvmExitReason.Intr, guest.Vcpu.RunBlock.ExitReason);
        Assert.Equal(0, guest.Vcpu.RunBlock.ImmediateExit); // Consumed: the next Run enters the guest.
        Assert.Equal(RealModeGuest.CodeAddress, guest.Vcpu.GetRegs().Rip);
    }

    [Theory]
    [MemberData(nameof(Kernels.All), MemberType = typeof(Kernels))]
    public void AKickBeforeRunMakesTheNextRunReturnAtOnce(string kernel)
    {
        using var kvm = Kernels.Open(kernel);
        using var guest = new RealModeGuest(kvm, a => { a.@out(0x10, al); a.hlt(); });
        guest.Vcpu.Kick();
        Assert.Equal(KvmExitReason.Intr, guest.Vcpu.Run().Reason);
        Assert.Equal(KvmExitReason.Io, guest.Vcpu.Run().Reason);
    }
}

public class HardwareBreakpointTests
{
    [Theory]
    [MemberData(nameof(Kernels.All), MemberType = typeof(Kernels))]
    public void AnExecutionBreakpointExitsWithDebugBeforeTheInstruction(string kernel)
    {
        using var kvm = Kernels.Open(kernel);
        using var guest = new RealModeGuest(kvm, a =>
        {
            a.mov(ax, 1);   // 0x1000, 3 bytes
            a.inc(ax);      // 0x1003: breakpoint
            a.hlt();
        });
        var debug = new KvmGuestDebug { Control = KvmConstants.KVM_GUESTDBG_ENABLE | KvmConstants.KVM_GUESTDBG_USE_HW_BP };
        unsafe
        {
            debug.Arch.Debugreg[0] = RealModeGuest.CodeAddress + 3;
            debug.Arch.Debugreg[7] = 0x1; // L0, execute, length 1.
        }
        guest.Vcpu.SetGuestDebug(debug);

        Assert.Equal(KvmExitReason.Debug, guest.Vcpu.Run().Reason);
        var arch = guest.Vcpu.RunBlock.Debug.Arch;
        Assert.Equal(1u, arch.Exception);
        Assert.Equal(RealModeGuest.CodeAddress + 3, arch.Pc);
        Assert.Equal(1UL, arch.Dr6 & 0xf); // B0: breakpoint 0 matched.
        Assert.Equal(1UL, guest.Vcpu.GetRegs().Rax & 0xffff); // INC has not run.
    }
}

public class EmulationFailureTests
{
    [Theory]
    [MemberData(nameof(Kernels.All), MemberType = typeof(Kernels))]
    public void FetchingCodeFromOutsideRamEndsWithAnEmulationInternalError(string kernel)
    {
        using var kvm = Kernels.Open(kernel);
        // A far return to 2000:0000, guest physical 0x20000, past the 64 KiB slot.
        using var guest = new RealModeGuest(kvm, a => { a.mov(ax, 0x2000); a.push(ax); a.push(0); a.retf(); });
        var result = guest.Vcpu.Run();
        Assert.Equal(KvmExitReason.InternalError, result.Reason);
        Assert.Equal(KvmConstants.KVM_INTERNAL_ERROR_EMULATION, guest.Vcpu.RunBlock.Internal.Suberror);
        Assert.Equal(0UL, guest.Vcpu.GetRegs().Rip);
        Assert.Equal(0x20000UL, guest.Vcpu.GetSregs().Cs.Base);
        // The ndata words that follow are the kernel's own diagnostics (Host: 6, Soft: none).
    }
}

public class InterruptWindowTests
{
    [Theory]
    [MemberData(nameof(Kernels.All), MemberType = typeof(Kernels))]
    public void AnInterruptQueuedAtTheWindowRunsTheGuestsHandler(string kernel)
    {
        using var kvm = Kernels.Open(kernel);
        using var guest = new RealModeGuest(kvm, a =>
        {
            var spin = a.CreateLabel();
            var handler = a.CreateLabel();
            a.mov(__word_ptr[0x20 * 4], 0x1100);  // IVT[0x20] = 0000:1100
            a.mov(__word_ptr[0x20 * 4 + 2], 0);
            a.@out(0x10, al);                      // Marker: the IVT is ready; IF is still 0.
            a.sti();
            a.Label(ref spin);
            a.jmp(spin);
        });
        guest.Memory.Write(0x1100, [0xb0, 0x77, 0xe6, 0x20, 0xf4]); // mov al, 0x77; out 0x20, al; hlt

        Assert.Equal(KvmExitReason.Io, guest.Vcpu.Run().Reason);
        Assert.Equal(0x10, guest.Vcpu.Io.Port);
        Assert.Equal(0, guest.Vcpu.RunBlock.IfFlag);
        Assert.Equal(0, guest.Vcpu.RunBlock.ReadyForInterruptInjection);

        guest.Vcpu.RunBlock.RequestInterruptWindow = 1;
        Assert.Equal(KvmExitReason.IrqWindowOpen, guest.Vcpu.Run().Reason);
        Assert.Equal(1, guest.Vcpu.RunBlock.IfFlag);
        Assert.Equal(1, guest.Vcpu.RunBlock.ReadyForInterruptInjection);

        guest.Vcpu.RunBlock.RequestInterruptWindow = 0;
        guest.Vcpu.Interrupt(0x20);
        Assert.Equal(KvmExitReason.Io, guest.Vcpu.Run().Reason);
        Assert.Equal(0x20, guest.Vcpu.Io.Port);
        Assert.Equal(0x77, guest.Vcpu.Io.Data[0]);
    }
}
