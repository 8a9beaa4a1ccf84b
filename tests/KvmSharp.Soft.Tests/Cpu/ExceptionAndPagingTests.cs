using Iced.Intel;
using KvmSharp.Soft.Cpu;
using static Iced.Intel.AssemblerRegisters;

namespace KvmSharp.Soft.Tests.Cpu;

public class ExceptionAndPagingTests
{
    private const ulong Code = CpuTestMachine.CodeBase;

    private static CpuTestMachine LongMode(int cpl = 0)
    {
        var m = new CpuTestMachine();
        m.SetupLongMode(cpl);
        return m;
    }

    /// <summary>Runs until the HLT in the handler of <paramref name="vector"/> and returns the exception frame base.</summary>
    private static ulong RunToHandler(CpuTestMachine m, int vector)
    {
        Assert.Equal(CpuExitReason.Hlt, m.Run());
        Assert.Equal(CpuTestMachine.AfterHandler(vector), m.Cpu.Rip);
        return m.Cpu.Rsp;
    }

    [Fact]
    public void DivideError_FaultsOnTheDiv()
    {
        using var m = LongMode();
        m.LoadCode(Code, a => { a.xor(ecx, ecx); a.div(ecx); });
        ulong frame = RunToHandler(m, X86.VectorDivideError);
        Assert.Equal(Code + 2, m.Memory.Read64(frame));
        Assert.Equal((ulong)CpuTestMachine.KernelCs, m.Memory.Read64(frame + 8));
        Assert.Equal(CpuTestMachine.StackTop, m.Memory.Read64(frame + 24));
        Assert.Equal((ulong)CpuTestMachine.KernelDs, m.Memory.Read64(frame + 32));
        Assert.Equal(CpuTestMachine.StackTop - 40, frame);
    }

    [Fact]
    public void InvalidOpcode()
    {
        using var m = LongMode();
        m.LoadCode(Code, a => { a.nop(); a.ud2(); });
        ulong frame = RunToHandler(m, X86.VectorInvalidOpcode);
        Assert.Equal(Code + 1, m.Memory.Read64(frame));
    }

    [Fact]
    public void LoadingSelectorBeyondGdtLimit_IsGpWithSelectorErrorCode()
    {
        using var m = LongMode();
        m.LoadCode(Code, a => { a.mov(eax, 0x1233); a.mov(ds, ax); });
        ulong frame = RunToHandler(m, X86.VectorGeneralProtection);
        Assert.Equal(0x1230UL, m.Memory.Read64(frame));
        Assert.Equal(Code + 5, m.Memory.Read64(frame + 8));
    }

    [Fact]
    public void NonCanonicalAccess_IsGp0()
    {
        using var m = LongMode();
        m.LoadCode(Code, a => { a.mov(rax, unchecked((long)0x8000000000000000)); a.mov(rbx, __qword_ptr[rax]); });
        ulong frame = RunToHandler(m, X86.VectorGeneralProtection);
        Assert.Equal(0UL, m.Memory.Read64(frame));
    }

    [Fact]
    public void PageFault_NotPresentRead()
    {
        using var m = LongMode();
        m.ChangePte(0x150000, clear: 1, set: 0);
        m.LoadCode(Code, a => { a.mov(rax, __qword_ptr[0x150008]); });
        ulong frame = RunToHandler(m, X86.VectorPageFault);
        Assert.Equal(0UL, m.Memory.Read64(frame));
        Assert.Equal(Code, m.Memory.Read64(frame + 8));
        Assert.Equal(0x150008UL, m.Cpu.Cr2);
    }

    [Fact]
    public void PageFault_NotPresentWrite()
    {
        using var m = LongMode();
        m.ChangePte(0x150000, clear: 1, set: 0);
        m.LoadCode(Code, a => { a.mov(__dword_ptr[0x150010], 1); });
        ulong frame = RunToHandler(m, X86.VectorPageFault);
        Assert.Equal((ulong)X86.PageFaultWrite, m.Memory.Read64(frame));
        Assert.Equal(0x150010UL, m.Cpu.Cr2);
    }

    [Fact]
    public void PageFault_SupervisorWriteToReadOnlyWithWp()
    {
        using var m = LongMode();
        m.ChangePte(0x150000, clear: 2, set: 0);
        m.LoadCode(Code, a => { a.mov(__dword_ptr[0x150010], 1); });
        ulong frame = RunToHandler(m, X86.VectorPageFault);
        Assert.Equal((ulong)(X86.PageFaultPresent | X86.PageFaultWrite), m.Memory.Read64(frame));
    }

    [Fact]
    public void SupervisorWriteToReadOnlyWithoutWp_Succeeds()
    {
        using var m = LongMode();
        m.Cpu.Cr0 &= ~X86.Cr0Wp;
        m.Cpu.NotifyStateChanged();
        m.ChangePte(0x150000, clear: 2, set: 0);
        m.LoadCode(Code, a => { a.mov(__dword_ptr[0x150010], 7); a.hlt(); });
        Assert.Equal(CpuExitReason.Hlt, m.Run());
        Assert.Equal(7u, m.Memory.Read32(0x150010));
    }

    [Fact]
    public void PageFault_UserReadOfSupervisorPage_SwitchesToRsp0()
    {
        using var m = LongMode(cpl: 3);
        m.ChangePte(0x150000, clear: 4, set: 0);
        m.LoadCode(Code, a => { a.mov(rax, __qword_ptr[0x150000]); });
        ulong frame = RunToHandler(m, X86.VectorPageFault);
        Assert.Equal(CpuTestMachine.Rsp0 - 48, frame);
        Assert.Equal((ulong)(X86.PageFaultPresent | X86.PageFaultUser), m.Memory.Read64(frame));
        Assert.Equal(Code, m.Memory.Read64(frame + 8));
        Assert.Equal((ulong)CpuTestMachine.UserCs64, m.Memory.Read64(frame + 16));
        Assert.Equal(CpuTestMachine.StackTop, m.Memory.Read64(frame + 32));
        Assert.Equal((ulong)CpuTestMachine.UserDs, m.Memory.Read64(frame + 40));
        Assert.Equal(0, m.Cpu.Cpl);
        Assert.Equal((ushort)0, m.Cpu.Ss.Selector);
        Assert.Equal(CpuTestMachine.KernelCs, m.Cpu.Cs.Selector);
    }

    [Fact]
    public void PageFault_UserWriteToReadOnlyPage()
    {
        using var m = LongMode(cpl: 3);
        m.ChangePte(0x150000, clear: 2, set: 0);
        m.LoadCode(Code, a => { a.mov(__byte_ptr[0x150000], 1); });
        ulong frame = RunToHandler(m, X86.VectorPageFault);
        Assert.Equal((ulong)(X86.PageFaultPresent | X86.PageFaultWrite | X86.PageFaultUser), m.Memory.Read64(frame));
    }

    [Fact]
    public void PageFault_FetchFromNxPage_HasInstructionFetchBit()
    {
        using var m = LongMode();
        m.ChangePte(0x150000, clear: 0, set: 1UL << 63);
        m.Memory.Write8(0x150000, 0x90);
        m.LoadCode(Code, a => { a.mov(eax, 0x150000); a.jmp(rax); });
        ulong frame = RunToHandler(m, X86.VectorPageFault);
        Assert.Equal((ulong)(X86.PageFaultPresent | X86.PageFaultInstructionFetch), m.Memory.Read64(frame));
        Assert.Equal(0x150000UL, m.Memory.Read64(frame + 8));
        Assert.Equal(0x150000UL, m.Cpu.Cr2);
    }

    [Fact]
    public void PageFault_ReservedBit()
    {
        using var m = LongMode();
        m.ChangePte(0x150000, clear: 0, set: 1UL << 51);
        m.LoadCode(Code, a => { a.mov(rax, __qword_ptr[0x150000]); });
        ulong frame = RunToHandler(m, X86.VectorPageFault);
        Assert.Equal((ulong)(X86.PageFaultPresent | X86.PageFaultReservedBit), m.Memory.Read64(frame));
    }

    [Fact]
    public void PageFault_InLargePageRegion()
    {
        using var m = LongMode();
        ulong pde = CpuTestMachine.PageDirectory + 3 * 8; // 6 MiB .. 8 MiB
        m.Memory.Write64(pde, m.Memory.Read64(pde) & ~1UL);
        m.LoadCode(Code, a => { a.mov(rax, __qword_ptr[0x600123]); });
        RunToHandler(m, X86.VectorPageFault);
        Assert.Equal(0x600123UL, m.Cpu.Cr2);
    }

    [Fact]
    public void CrossPageWrite_FaultsOnSecondPage_WithoutTouchingFirst()
    {
        using var m = LongMode();
        m.ChangePte(0x151000, clear: 1, set: 0);
        m.LoadCode(Code, a => { a.mov(rax, -1L); a.mov(__qword_ptr[0x150FFC], rax); });
        RunToHandler(m, X86.VectorPageFault);
        Assert.Equal(0x151000UL, m.Cpu.Cr2);
        Assert.Equal(0u, m.Memory.Read32(0x150FFC));
    }

    [Fact]
    public void AccessedAndDirtyBits_AreSet()
    {
        using var m = LongMode();
        ulong pteRead = CpuTestMachine.PageTable + (0x150000 >> 12) * 8;
        ulong pteWrite = CpuTestMachine.PageTable + (0x151000 >> 12) * 8;
        m.LoadCode(Code, a => { a.mov(rax, __qword_ptr[0x150000]); a.mov(__qword_ptr[0x151000], rax); a.hlt(); });
        Assert.Equal(CpuExitReason.Hlt, m.Run());
        Assert.Equal(0x20UL, m.Memory.Read64(pteRead) & 0x60);
        Assert.Equal(0x60UL, m.Memory.Read64(pteWrite) & 0x60);
        Assert.NotEqual(0UL, m.Memory.Read64(CpuTestMachine.Pml4) & 0x20);
    }

    [Fact]
    public void InvlpgAndCr3Reload_DropStaleTranslations()
    {
        using var m = LongMode();
        m.Memory.Write64(0x150000, 1);
        m.Memory.Write64(0x152000, 2);
        ulong pte = CpuTestMachine.PageTable + (0x150000 >> 12) * 8;
        // Remap linear 0x150000 to physical 0x152000 behind the TLB's back, then INVLPG.
        m.LoadCode(Code, a =>
        {
            a.mov(rax, __qword_ptr[0x150000]);
            a.mov(rbx, 0x152007);
            a.mov(__qword_ptr[(long)pte], rbx);
            a.mov(rcx, __qword_ptr[0x150000]); // stale TLB entry is allowed here
            a.invlpg(__byte_ptr[0x150000]);
            a.mov(rdx, __qword_ptr[0x150000]);
            a.hlt();
        });
        Assert.Equal(CpuExitReason.Hlt, m.Run());
        Assert.Equal(1UL, m.Cpu.Rax);
        Assert.Equal(2UL, m.Cpu.Rdx);
    }

    [Fact]
    public void IstStackIsUsed()
    {
        using var m = LongMode();
        m.SetIdtGate(X86.VectorBreakpoint, CpuTestMachine.HandlerBase + X86.VectorBreakpoint * 16, dpl: 3, ist: 1, trap: true);
        m.LoadCode(Code, a => { a.int3(); });
        ulong frame = RunToHandler(m, X86.VectorBreakpoint);
        Assert.Equal(CpuTestMachine.Ist1 - 40, frame);
        Assert.Equal(Code + 1, m.Memory.Read64(frame)); // INT3 is a trap: next instruction
    }

    [Fact]
    public void SoftwareInterruptThroughDpl0GateFromUser_IsGp()
    {
        using var m = LongMode(cpl: 3);
        m.LoadCode(Code, a => { a.@int(0x80); });
        ulong frame = RunToHandler(m, X86.VectorGeneralProtection);
        Assert.Equal(0x80UL * 8 + 2, m.Memory.Read64(frame));
        Assert.Equal(Code, m.Memory.Read64(frame + 8));
    }

    [Fact]
    public void IretqReturnsToUserMode()
    {
        using var m = LongMode();
        // Kernel builds an IRET frame to user code that then executes INT3 through a DPL3 gate.
        m.SetIdtGate(X86.VectorBreakpoint, CpuTestMachine.HandlerBase + X86.VectorBreakpoint * 16, dpl: 3, ist: 0, trap: false);
        const ulong userCode = 0x180000;
        m.Memory.Write(userCode, CpuTestMachine.Assemble(64, userCode, a => { a.mov(eax, 0x77); a.int3(); }));
        m.LoadCode(Code, a =>
        {
            a.push(CpuTestMachine.UserDs);
            a.push(0x50000);
            a.push(0x202);
            a.push(CpuTestMachine.UserCs64);
            a.push((int)userCode);
            a.iretq();
        });
        ulong frame = RunToHandler(m, X86.VectorBreakpoint);
        Assert.Equal(0x77UL, m.Cpu.Rax);
        Assert.Equal(userCode + 6, m.Memory.Read64(frame));
        Assert.Equal((ulong)CpuTestMachine.UserCs64, m.Memory.Read64(frame + 8));
        Assert.Equal(0x50000UL, m.Memory.Read64(frame + 24));
        Assert.Equal(CpuTestMachine.Rsp0 - 40, frame);
    }

    [Fact]
    public void InjectedPageFault_UsesCr2()
    {
        using var m = LongMode();
        m.LoadCode(Code, a => a.nop());
        m.Cpu.Cr2 = 0xDEAD000;
        m.Cpu.PendingExceptionVector = X86.VectorPageFault;
        m.Cpu.PendingExceptionHasErrorCode = true;
        m.Cpu.PendingExceptionErrorCode = 6;
        ulong frame = RunToHandler(m, X86.VectorPageFault);
        Assert.Equal(6UL, m.Memory.Read64(frame));
        Assert.Equal(0xDEAD000UL, m.Cpu.Cr2);
    }

    [Fact]
    public void PageFaultWhileDeliveringPageFault_IsDoubleFault()
    {
        using var m = LongMode();
        // Make the kernel stack page not present: the #PF frame push faults again -> #DF on IST1.
        m.SetIdtGate(X86.VectorDoubleFault, CpuTestMachine.HandlerBase + X86.VectorDoubleFault * 16, dpl: 0, ist: 1, trap: false);
        m.ChangePte(CpuTestMachine.StackTop - 0x1000, clear: 1, set: 0);
        m.ChangePte(0x150000, clear: 1, set: 0);
        m.LoadCode(Code, a => { a.mov(rax, __qword_ptr[0x150000]); });
        ulong frame = RunToHandler(m, X86.VectorDoubleFault);
        Assert.Equal(0UL, m.Memory.Read64(frame));
        Assert.Equal(CpuTestMachine.Ist1 - 48, frame);
    }

    [Fact]
    public void TrapFlag_SingleStepsIntoDebugHandler()
    {
        using var m = LongMode();
        byte[] code = m.LoadCode(Code, a =>
        {
            a.pushfq();
            a.or(__qword_ptr[rsp], 0x100);
            a.popfq();
            a.nop();   // executes with TF=1, then #DB
            a.nop();
        });
        ulong frame = RunToHandler(m, X86.VectorDebug);
        Assert.Equal(Code + (ulong)code.Length - 1, m.Memory.Read64(frame));
        Assert.NotEqual(0UL, m.Cpu.Dr6 & X86.Dr6SingleStep);
        Assert.Equal(0UL, m.Cpu.Rflags & X86.FlagTrap);
    }

    [Fact]
    public void GuestHardwareBreakpoint_FaultsBeforeExecution()
    {
        using var m = LongMode();
        m.Cpu.Dr0 = Code + 5;
        m.Cpu.Dr7 = X86.Dr7Fixed | 1;
        m.LoadCode(Code, a => { a.mov(eax, 1); a.mov(ebx, 2); });
        ulong frame = RunToHandler(m, X86.VectorDebug);
        Assert.Equal(Code + 5, m.Memory.Read64(frame));
        Assert.Equal(0UL, m.Cpu.Rbx);
        Assert.Equal(1UL, m.Cpu.Dr6 & 0xF);
    }

    [Fact]
    public void SyscallSysretRoundTrip()
    {
        using var m = LongMode(cpl: 3);
        const ulong kernelEntry = 0x170000;
        m.Memory.Write(kernelEntry, CpuTestMachine.Assemble(64, kernelEntry, a =>
        {
            a.mov(r12, rcx);
            a.mov(r13, r11);
            a.mov(r14, rsp);
            a.add(eax, 100);
            a.sysretq();
        }));
        m.Cpu.Lstar = kernelEntry;
        m.Cpu.Sfmask = X86.FlagInterrupt | X86.FlagDirection;
        m.Cpu.Rflags = X86.FlagReserved1 | X86.FlagInterrupt | X86.FlagDirection;
        byte[] code = m.LoadCode(Code, a => { a.mov(eax, 5); a.syscall(); a.mov(r15, rax); a.ud2(); });
        ulong frame = RunToHandler(m, X86.VectorInvalidOpcode);
        Assert.Equal(Code + 7, m.Cpu.Gpr[12]);             // RCX = return RIP
        Assert.Equal(X86.FlagReserved1 | X86.FlagInterrupt | X86.FlagDirection, m.Cpu.Gpr[13]); // R11 = RFLAGS
        Assert.Equal(CpuTestMachine.StackTop, m.Cpu.Gpr[14]); // SYSCALL does not switch stacks
        Assert.Equal(105UL, m.Cpu.Gpr[15]);
        // Back in user mode when UD2 faulted: the frame shows CPL3 selectors and RFLAGS restored from R11.
        Assert.Equal((ulong)CpuTestMachine.UserCs64, m.Memory.Read64(frame + 8));
        Assert.Equal((ulong)CpuTestMachine.UserDs, m.Memory.Read64(frame + 32));
        Assert.NotEqual(0UL, m.Memory.Read64(frame + 16) & X86.FlagDirection);
        Assert.Equal(Code + (ulong)code.Length - 2, m.Memory.Read64(frame));
    }

    [Fact]
    public void Cpuid_AnswersFromTable()
    {
        using var m = LongMode();
        m.Cpu.Cpuid =
        [
            new CpuidEntry { Function = 0, Eax = 7, Ebx = 0x756E6547, Ecx = 0x6C65746E, Edx = 0x49656E69 },
            new CpuidEntry { Function = 7, Index = 0, IndexSignificant = true, Ebx = 0xAA },
            new CpuidEntry { Function = 7, Index = 1, IndexSignificant = true, Ebx = 0xBB },
        ];
        m.LoadCode(Code, a => { a.xor(eax, eax); a.cpuid(); a.mov(r8d, ebx); a.mov(eax, 7); a.mov(ecx, 1); a.cpuid(); a.hlt(); });
        Assert.Equal(CpuExitReason.Hlt, m.Run());
        Assert.Equal(0x756E6547UL, m.Cpu.Gpr[8]);
        Assert.Equal(0xBBUL, m.Cpu.Rbx);
    }

    [Fact]
    public void Msrs_RoundTripThroughRdmsrWrmsr()
    {
        using var m = LongMode();
        m.LoadCode(Code, a =>
        {
            a.mov(ecx, unchecked((int)X86.MsrKernelGsBase)); a.mov(eax, 0x1000); a.mov(edx, 0xFFFF8000); a.wrmsr();
            a.mov(ecx, unchecked((int)X86.MsrGsBase)); a.mov(eax, 0x2000); a.xor(edx, edx); a.wrmsr();
            a.swapgs();
            a.mov(ecx, unchecked((int)X86.MsrGsBase)); a.rdmsr();
            a.hlt();
        });
        Assert.Equal(CpuExitReason.Hlt, m.Run());
        Assert.Equal(0x1000UL, m.Cpu.Rax);
        Assert.Equal(0xFFFF8000UL, m.Cpu.Rdx);
        Assert.Equal(0x2000UL, m.Cpu.KernelGsBase);
    }

    [Fact]
    public void UnknownMsr_IsGp()
    {
        using var m = LongMode();
        m.LoadCode(Code, a => { a.mov(ecx, 0x12345); a.rdmsr(); });
        RunToHandler(m, X86.VectorGeneralProtection);
    }

    [Fact]
    public void Smap_BlocksSupervisorDataAccessToUserPagesUnlessAcIsSet()
    {
        using var m = LongMode();
        m.Cpu.Cr4 |= X86.Cr4Smap;
        m.Cpu.NotifyStateChanged();
        // Only 0x150000 stays a user page; everything else becomes supervisor-only.
        for (ulong page = 0; page < 0x200000; page += 0x1000)
            if (page != 0x150000) m.ChangePte(page, clear: 4, set: 0);
        m.Memory.Write64(0x150000, 0x77);
        m.LoadCode(Code, a =>
        {
            a.stac();
            a.mov(rax, __qword_ptr[0x150000]); // allowed with AC=1 (and cached nowhere)
            a.clac();
            a.mov(rbx, __qword_ptr[0x150000]); // must fault again
        });
        ulong frame = RunToHandler(m, X86.VectorPageFault);
        Assert.Equal(0x77UL, m.Cpu.Rax);
        Assert.Equal((ulong)X86.PageFaultPresent, m.Memory.Read64(frame));
        Assert.Equal(0x150000UL, m.Cpu.Cr2);
    }

    [Fact]
    public void Smep_BlocksSupervisorFetchFromUserPages()
    {
        using var m = LongMode();
        m.Cpu.Cr4 |= X86.Cr4Smep;
        m.Cpu.NotifyStateChanged();
        for (ulong page = 0; page < 0x200000; page += 0x1000)
            if (page != 0x150000) m.ChangePte(page, clear: 4, set: 0);
        m.Memory.Write8(0x150000, 0x90);
        m.LoadCode(Code, a => { a.mov(eax, 0x150000); a.jmp(rax); });
        ulong frame = RunToHandler(m, X86.VectorPageFault);
        Assert.Equal((ulong)(X86.PageFaultPresent | X86.PageFaultInstructionFetch), m.Memory.Read64(frame));
    }
}
