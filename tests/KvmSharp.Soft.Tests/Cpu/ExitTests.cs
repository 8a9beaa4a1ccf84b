using Iced.Intel;
using KvmSharp.Soft.Cpu;
using static Iced.Intel.AssemblerRegisters;

namespace KvmSharp.Soft.Tests.Cpu;

public class ExitTests
{
    private const ulong Code = CpuTestMachine.CodeBase;
    private const ulong MmioPage = 0x1F0000;

    private static CpuTestMachine LongMode()
    {
        var m = new CpuTestMachine();
        m.SetupLongMode();
        return m;
    }

    [Fact]
    public void Out_ExitsWithData_RipStaysUntilNextRun()
    {
        using var m = LongMode();
        m.LoadCode(Code, a => { a.mov(al, 0x42); a.@out(0x80, al); a.hlt(); });
        Assert.Equal(CpuExitReason.Io, m.Run());
        Assert.Equal((ushort)0x80, m.Cpu.Exit.IoPort);
        Assert.Equal(1, m.Cpu.Exit.IoSize);
        Assert.True(m.Cpu.Exit.IoIsOut);
        Assert.Equal(1u, m.Cpu.Exit.IoCount);
        Assert.Equal(0x42, m.Cpu.IoData[0]);
        Assert.Equal(Code + 2, m.Cpu.Rip);
        Assert.Equal(1UL, m.Cpu.InstructionsRetired);

        Assert.Equal(CpuExitReason.Hlt, m.Run());
        Assert.Equal(Code + 5, m.Cpu.Rip);
        Assert.Equal(3UL, m.Cpu.InstructionsRetired);
    }

    [Fact]
    public void Out_CanRetireBeforeExit()
    {
        using var m = LongMode();
        m.Cpu.DeferOutRetire = false;
        m.LoadCode(Code, a => { a.mov(dx, 0x3F8); a.mov(eax, 0x11223344); a.@out(dx, eax); a.hlt(); });
        Assert.Equal(CpuExitReason.Io, m.Run());
        Assert.Equal((ushort)0x3F8, m.Cpu.Exit.IoPort);
        Assert.Equal(4, m.Cpu.Exit.IoSize);
        Assert.Equal(0x11223344u, BitConverter.ToUInt32(m.Cpu.IoData, 0));
        Assert.Equal(Code + 4 + 5 + 1, m.Cpu.Rip);
    }

    [Fact]
    public void In_CompletesWithKernelData()
    {
        using var m = LongMode();
        byte[] code = m.LoadCode(Code, a => { a.mov(rax, -1L); a.mov(dx, 0x60); a.@in(ax, dx); a.hlt(); });
        Assert.Equal(CpuExitReason.Io, m.Run());
        Assert.False(m.Cpu.Exit.IoIsOut);
        Assert.Equal(2, m.Cpu.Exit.IoSize);
        ulong inRip = m.Cpu.Rip;
        Assert.Equal(Code + (ulong)code.Length - 3, inRip); // "in ax,dx" is 66 ED, then HLT
        m.Cpu.IoData[0] = 0x34;
        m.Cpu.IoData[1] = 0x12;
        Assert.Equal(CpuExitReason.Hlt, m.Run());
        Assert.Equal(0xFFFFFFFFFFFF1234UL, m.Cpu.Rax);
    }

    [Fact]
    public void RepOuts_ExitsOncePerElement_AndRetiresWhenTheCountIsZero()
    {
        using var m = LongMode();
        m.Memory.Write(0x200000, "hello"u8);
        m.LoadCode(Code, a => { a.mov(esi, 0x200000); a.mov(ecx, 5); a.mov(dx, 0x3F8); a.rep.outsb(); a.hlt(); });
        ulong repRip = 0;
        for (int i = 0; i < 5; i++)
        {
            Assert.Equal(CpuExitReason.Io, m.Run());
            Assert.Equal(1u, m.Cpu.Exit.IoCount);
            Assert.Equal("hello"u8[i], m.Cpu.IoData[0]);
            Assert.Equal((ulong)(4 - i), m.Cpu.Rcx);
            Assert.Equal(0x200001UL + (ulong)i, m.Cpu.Rsi);
            // As KVM's emulator: still on the instruction, with RF set, even after the last element.
            if (i == 0) repRip = m.Cpu.Rip;
            Assert.Equal(repRip, m.Cpu.Rip);
            Assert.NotEqual(0UL, m.Cpu.Rflags & X86.FlagResume);
        }
        Assert.Equal(CpuExitReason.Hlt, m.Run());
        Assert.Equal(0UL, m.Cpu.Rflags & X86.FlagResume);
    }

    [Fact]
    public void RepIns_WritesKernelDataToMemory()
    {
        using var m = LongMode();
        m.LoadCode(Code, a => { a.mov(edi, 0x200000); a.mov(ecx, 3); a.mov(dx, 0x1F0); a.rep.insw(); a.hlt(); });
        Assert.Equal(CpuExitReason.Io, m.Run());
        Assert.Equal(3u, m.Cpu.Exit.IoCount);
        Assert.Equal(2, m.Cpu.Exit.IoSize);
        Assert.Equal(3UL, m.Cpu.Rcx); // not retired yet
        for (int i = 0; i < 6; i++) m.Cpu.IoData[i] = (byte)(0xA0 + i);
        Assert.Equal(CpuExitReason.Hlt, m.Run());
        Assert.Equal(0xA5A4A3A2A1A0UL, m.Memory.Read64(0x200000) & 0xFFFFFFFFFFFF);
        Assert.Equal(0x200006UL, m.Cpu.Rdi);
        Assert.Equal(0UL, m.Cpu.Rcx);
    }

    [Fact]
    public void MmioRead_ReexecutesWithKernelData()
    {
        using var m = LongMode();
        m.Memory.MmioPages.Add(MmioPage);
        m.LoadCode(Code, a => { a.mov(rbx, (long)MmioPage + 0x10); a.mov(rax, __qword_ptr[rbx]); a.add(rax, 1); a.hlt(); });
        Assert.Equal(CpuExitReason.Mmio, m.Run());
        Assert.Equal(MmioPage + 0x10, m.Cpu.Exit.MmioAddress);
        Assert.Equal(8, m.Cpu.Exit.MmioSize);
        Assert.False(m.Cpu.Exit.MmioIsWrite);
        Assert.Equal(Code + 10, m.Cpu.Rip);
        Assert.True(m.Cpu.HasPendingCompletion);
        m.Cpu.MmioReadData = 0x0102030405060708;
        Assert.Equal(CpuExitReason.Hlt, m.Run());
        Assert.Equal(0x0102030405060709UL, m.Cpu.Rax);
    }

    [Fact]
    public void MmioWrite_ReportsData_AndRetiresBeforeExit()
    {
        using var m = LongMode();
        m.Memory.MmioPages.Add(MmioPage);
        byte[] code = m.LoadCode(Code, a => { a.mov(__dword_ptr[MmioPage + 0x20], 0x12345678); a.hlt(); });
        Assert.Equal(CpuExitReason.Mmio, m.Run());
        Assert.True(m.Cpu.Exit.MmioIsWrite);
        Assert.Equal(MmioPage + 0x20, m.Cpu.Exit.MmioAddress);
        Assert.Equal(4, m.Cpu.Exit.MmioSize);
        Assert.Equal(0x12345678UL, m.Cpu.Exit.MmioData);
        Assert.Equal(Code + (ulong)code.Length - 1, m.Cpu.Rip);
        Assert.Equal(CpuExitReason.Hlt, m.Run());
    }

    [Fact]
    public void MmioWrite_CanDeferRetire()
    {
        using var m = LongMode();
        m.Cpu.DeferMmioWriteRetire = true;
        m.Memory.MmioPages.Add(MmioPage);
        byte[] code = m.LoadCode(Code, a => { a.mov(__dword_ptr[MmioPage], 7); a.hlt(); });
        Assert.Equal(CpuExitReason.Mmio, m.Run());
        Assert.Equal(Code, m.Cpu.Rip);
        Assert.Equal(0UL, m.Cpu.InstructionsRetired);
        Assert.Equal(CpuExitReason.Hlt, m.Run());
        Assert.Equal(Code + (ulong)code.Length, m.Cpu.Rip);
        Assert.Equal(2UL, m.Cpu.InstructionsRetired);
    }

    [Fact]
    public void WriteStraddlingRamAndMmio_SplitsAtThePage()
    {
        using var m = LongMode();
        m.Memory.MmioPages.Add(MmioPage);
        m.LoadCode(Code, a => { a.mov(rax, 0x1122334455667788); a.mov(__qword_ptr[MmioPage - 4], rax); a.hlt(); });
        Assert.Equal(CpuExitReason.Mmio, m.Run());
        Assert.Equal(0x55667788u, m.Memory.Read32(MmioPage - 4));
        Assert.Equal(MmioPage, m.Cpu.Exit.MmioAddress);
        Assert.Equal(4, m.Cpu.Exit.MmioSize);
        Assert.Equal(0x11223344UL, m.Cpu.Exit.MmioData);
    }

    [Fact]
    public void WriteToReadOnlySlot_IsAnMmioExit()
    {
        using var m = LongMode();
        m.Memory.ReadOnlyPages.Add(0x1E0000);
        m.Memory.Write64(0x1E0000, 0xAB);
        m.LoadCode(Code, a => { a.mov(rax, __qword_ptr[0x1E0000]); a.mov(__byte_ptr[0x1E0000], 1); a.hlt(); });
        Assert.Equal(CpuExitReason.Mmio, m.Run());
        Assert.Equal(0xABUL, m.Cpu.Rax);
        Assert.True(m.Cpu.Exit.MmioIsWrite);
        Assert.Equal(0xABUL, m.Memory.Read64(0x1E0000));
    }

    [Fact]
    public void Hlt_RipIsPastHlt()
    {
        using var m = LongMode();
        m.LoadCode(Code, a => { a.nop(); a.hlt(); });
        Assert.Equal(CpuExitReason.Hlt, m.Run());
        Assert.Equal(Code + 2, m.Cpu.Rip);
        Assert.True(m.Cpu.Halted);
    }

    [Fact]
    public void Budget_StopsAfterExactCount()
    {
        using var m = LongMode();
        m.LoadCode(Code, a => { var top = a.CreateLabel(); a.Label(ref top); a.inc(rax); a.jmp(top); });
        Assert.Equal(CpuExitReason.BudgetExhausted, m.Cpu.Run(1001));
        Assert.Equal(1001UL, m.Cpu.InstructionsRetired);
        Assert.Equal(501UL, m.Cpu.Rax);
    }

    [Fact]
    public void RequestStop_FromAnotherThread_StopsALoop()
    {
        using var m = LongMode();
        m.LoadCode(Code, a => { var top = a.CreateLabel(); a.Label(ref top); a.inc(rax); a.jmp(top); });
        var stopper = new Thread(() => { Thread.Sleep(50); m.Cpu.RequestStop(); });
        stopper.Start();
        Assert.Equal(CpuExitReason.Stopped, m.Cpu.Run());
        stopper.Join();
        Assert.True(m.Cpu.Rax > 0);
    }

    [Fact]
    public void InjectedInterrupt_IsDeliveredThroughIdt()
    {
        using var m = LongMode();
        m.LoadCode(Code, a => { a.sti(); a.nop(); a.nop(); a.hlt(); });
        Assert.Equal(CpuExitReason.BudgetExhausted, m.Cpu.Run(2));
        Assert.True(m.Cpu.ReadyForInterruptInjection);
        m.Cpu.PendingInterruptVector = 0x20;
        Assert.Equal(CpuExitReason.Hlt, m.Run());
        Assert.Equal(CpuTestMachine.AfterHandler(0x20), m.Cpu.Rip);
        ulong rsp = m.Cpu.Rsp;
        Assert.Equal(Code + 2, m.Memory.Read64(rsp));                    // interrupted RIP
        Assert.Equal((ulong)CpuTestMachine.KernelCs, m.Memory.Read64(rsp + 8));
        Assert.True((m.Memory.Read64(rsp + 16) & X86.FlagInterrupt) != 0);
        Assert.False(m.Cpu.InterruptFlag); // interrupt gate clears IF
    }

    [Fact]
    public void InterruptWindow_OpensAfterStiShadow()
    {
        using var m = LongMode();
        m.Cpu.RequestInterruptWindow = true;
        m.LoadCode(Code, a => { a.nop(); a.sti(); a.nop(); a.nop(); a.hlt(); });
        Assert.Equal(CpuExitReason.InterruptWindowOpen, m.Run());
        Assert.Equal(Code + 3, m.Cpu.Rip); // the instruction after STI ran in the shadow
        Assert.True(m.Cpu.ReadyForInterruptInjection);
    }

    [Fact]
    public void StiShadow_IsVisible()
    {
        using var m = LongMode();
        m.LoadCode(Code, a => { a.sti(); a.nop(); a.hlt(); });
        Assert.Equal(CpuExitReason.BudgetExhausted, m.Cpu.Run(1));
        Assert.Equal(X86.ShadowSti, m.Cpu.InterruptShadow);
        Assert.False(m.Cpu.ReadyForInterruptInjection);
    }

    [Fact]
    public void UnimplementedTaskSwitch_IsInternalErrorNamingIt()
    {
        // Every instruction of the families CPUID offers is implemented; hardware task switching is not. A far JMP to a
        // TSS descriptor in 32-bit protected mode asks for one.
        using var m = CpuTestMachine.Protected32();
        ulong tss = 0x67 | ((CpuTestMachine.TssBase & 0xFFFFFF) << 16) | (0x9UL << 40) | (1UL << 47);
        m.Memory.Write64(CpuTestMachine.GdtBase + 0x18, tss);
        m.Cpu.Gdtr = new DescriptorTable { Base = CpuTestMachine.GdtBase, Limit = 0x1F };
        m.Memory.Write(Code, [0x90, 0xEA, 0, 0, 0, 0, 0x18, 0]); // NOP; JMP FAR 0x18:0
        m.Cpu.Rip = Code;
        Assert.Equal(CpuExitReason.InternalError, m.Run());
        Assert.Contains("task switch", m.Cpu.Exit.InternalError);
        Assert.Equal(Code + 1, m.Cpu.Rip);
    }

    [Fact]
    public void ExecutingFromMmio_IsInternalError()
    {
        using var m = LongMode();
        m.Memory.MmioPages.Add(MmioPage);
        m.Cpu.Rip = MmioPage;
        Assert.Equal(CpuExitReason.InternalError, m.Run());
    }

    [Fact]
    public void TripleFault_IsShutdown()
    {
        using var m = LongMode();
        m.Cpu.Idtr = new DescriptorTable { Base = CpuTestMachine.IdtBase, Limit = 0 };
        m.LoadCode(Code, a => a.ud2());
        Assert.Equal(CpuExitReason.Shutdown, m.Run());
    }

    [Fact]
    public void GuestDebugSingleStep_ExitsAfterEachInstruction()
    {
        using var m = LongMode();
        m.Cpu.GuestDebug = new GuestDebugSettings { Enabled = true, SingleStep = true };
        m.LoadCode(Code, a => { a.mov(eax, 1); a.mov(ebx, 2); a.hlt(); });
        Assert.Equal(CpuExitReason.Debug, m.Run());
        Assert.Equal(Code + 5, m.Cpu.Rip);
        Assert.Equal(1UL, m.Cpu.Rax);
        Assert.Equal(0UL, m.Cpu.Rbx);
        Assert.NotEqual(0UL, m.Cpu.Exit.DebugDr6 & X86.Dr6SingleStep);
        Assert.Equal(CpuExitReason.Debug, m.Run());
        Assert.Equal(2UL, m.Cpu.Rbx);
    }

    [Fact]
    public void GuestDebugHardwareBreakpoint_ExitsBeforeTheInstruction()
    {
        using var m = LongMode();
        m.LoadCode(Code, a => { a.mov(eax, 1); a.mov(ebx, 2); a.hlt(); });
        m.Cpu.GuestDebug = new GuestDebugSettings { Enabled = true, UseHardwareBreakpoints = true, Dr0 = Code + 5, Dr7 = 1 };
        Assert.Equal(CpuExitReason.Debug, m.Run());
        Assert.Equal(Code + 5, m.Cpu.Rip);
        Assert.Equal(0UL, m.Cpu.Rbx);
        Assert.Equal(1UL, m.Cpu.Exit.DebugDr6 & 0xF);
        Assert.Equal(CpuExitReason.Hlt, m.Run());
        Assert.Equal(2UL, m.Cpu.Rbx);
    }

    [Fact]
    public void GuestDebugSoftwareBreakpoint_ExitsAtInt3()
    {
        using var m = LongMode();
        m.Cpu.GuestDebug = new GuestDebugSettings { Enabled = true, UseSoftwareBreakpoints = true };
        m.LoadCode(Code, a => { a.nop(); a.int3(); a.hlt(); });
        Assert.Equal(CpuExitReason.Debug, m.Run());
        Assert.Equal(X86.VectorBreakpoint, m.Cpu.Exit.DebugException);
        Assert.Equal(Code + 1, m.Cpu.Rip);
    }

    [Fact]
    public void AvxEncodingsAndVmxInstructions_AreInvalidOpcodes()
    {
        using var m = LongMode();
        m.LoadCode(Code, a => a.vpaddd(xmm0, xmm1, xmm2));
        Assert.Equal(CpuExitReason.Hlt, m.Run());
        Assert.Equal(CpuTestMachine.AfterHandler(X86.VectorInvalidOpcode), m.Cpu.Rip);
        m.SetupLongMode();
        m.LoadCode(Code, a => a.vmxon(__qword_ptr[rax]));
        Assert.Equal(CpuExitReason.Hlt, m.Run());
        Assert.Equal(CpuTestMachine.AfterHandler(X86.VectorInvalidOpcode), m.Cpu.Rip);
    }

    [Fact]
    public void EndlessFaultLoop_StillHonoursTheBudget()
    {
        using var m = LongMode();
        // Every handler lives on a page that is not present: each delivery faults on the handler fetch.
        m.ChangePte(CpuTestMachine.HandlerBase, clear: 1, set: 0);
        m.LoadCode(Code, a => a.ud2());
        Assert.Equal(CpuExitReason.BudgetExhausted, m.Cpu.Run(1000));
    }
}
