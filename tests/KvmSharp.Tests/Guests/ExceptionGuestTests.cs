using KvmSharp.Abi;
using static Iced.Intel.AssemblerRegisters;

namespace KvmSharp.Tests.Guests;

/// <summary>Guests that fault on purpose: the exception, its error code, RIP and CR2 must be the architecture's on both kernels.</summary>
public class ExceptionGuestTests
{
    private static List<(ushort Port, ulong Value)> RunFaulting(string kernel, Action<Iced.Intel.Assembler> program, out LongModeGuest.Report report)
    {
        using var kvm = Kernels.Open(kernel);
        using var guest = new LongModeGuest(kvm, program);
        var (exit, outs) = guest.RunToEnd();
        Assert.Equal(KvmExitReason.Hlt, exit);
        report = LongModeGuest.Report.From(outs);
        return outs;
    }

    [Theory]
    [MemberData(nameof(Kernels.All), MemberType = typeof(Kernels))]
    public void Ud2RaisesInvalidOpcodeAtTheInstruction(string kernel)
    {
        RunFaulting(kernel, a => { a.nop(); a.ud2(); }, out var report);
        Assert.Equal(6UL, report.Vector);
        Assert.Equal(LongModeGuest.CodeAddress + 1, report.Rip);
    }

    [Theory]
    [MemberData(nameof(Kernels.All), MemberType = typeof(Kernels))]
    public void NonCanonicalAccessRaisesGeneralProtectionWithErrorCodeZero(string kernel)
    {
        RunFaulting(kernel, a => { a.mov(rax, unchecked((long)0x8000_0000_0000_0000)); a.mov(rbx, __qword_ptr[rax]); }, out var report);
        Assert.Equal(13UL, report.Vector);
        Assert.Equal(0UL, report.ErrorCode);
        Assert.Equal(LongModeGuest.CodeAddress + 10, report.Rip);
    }

    [Theory]
    [MemberData(nameof(Kernels.All), MemberType = typeof(Kernels))]
    public void ReadOfAnUnmappedPageRaisesPageFaultWithCr2(string kernel)
    {
        RunFaulting(kernel, a => { a.mov(rax, 0x40123); a.mov(rbx, __qword_ptr[rax]); }, out var report);
        Assert.Equal(14UL, report.Vector);
        Assert.Equal(0UL, report.ErrorCode);          // Not present, read, supervisor.
        Assert.Equal(0x40123UL, report.Cr2);
    }

    [Theory]
    [MemberData(nameof(Kernels.All), MemberType = typeof(Kernels))]
    public void WriteToAReadOnlyPageWithWriteProtectRaisesPageFault(string kernel)
    {
        RunFaulting(kernel, a => { a.mov(rax, (long)LongModeGuest.ReadOnlyDataAddress + 8); a.mov(__dword_ptr[rax], 1); }, out var report);
        Assert.Equal(14UL, report.Vector);
        Assert.Equal(3UL, report.ErrorCode);          // Present, write, supervisor.
        Assert.Equal(LongModeGuest.ReadOnlyDataAddress + 8, report.Cr2);
    }

    [Theory]
    [MemberData(nameof(Kernels.All), MemberType = typeof(Kernels))]
    public void DivideByZeroRaisesDivideError(string kernel)
    {
        RunFaulting(kernel, a => { a.xor(ecx, ecx); a.mov(eax, 7); a.div(ecx); }, out var report);
        Assert.Equal(0UL, report.Vector);
        Assert.Equal(LongModeGuest.CodeAddress + 7, report.Rip);
    }

    [Theory]
    [MemberData(nameof(Kernels.All), MemberType = typeof(Kernels))]
    public void AnExceptionWithNoHandlerEndsInATripleFault(string kernel)
    {
        using var kvm = Kernels.Open(kernel);
        using var guest = new LongModeGuest(kvm, a => a.ud2(), withHandlers: false);
        Assert.Equal(KvmExitReason.Shutdown, guest.Vcpu.Run().Reason);
    }

    [Theory]
    [MemberData(nameof(Kernels.All), MemberType = typeof(Kernels))]
    public void CodeThatRewritesItsNextInstructionRunsTheNewBytes(string kernel)
    {
        using var kvm = Kernels.Open(kernel);
        using var guest = new LongModeGuest(kvm, a =>
        {
            var patched = a.CreateLabel();
            a.mov(rbx, (long)LongModeGuest.CodeAddress + 16);  // 10 bytes
            a.mov(__byte_ptr[rbx + 1], 0x42);                // 4 bytes: the imm8 of the next instruction
            a.nop();                                           // 1 byte
            a.nop();                                           // 1 byte, so the patched one sits at +16
            a.Label(ref patched);
            a.mov(al, 0x00);
            a.@out(0x10, al);
            a.hlt();
        });
        var (exit, outs) = guest.RunToEnd();
        Assert.Equal(KvmExitReason.Hlt, exit);
        Assert.Equal([(0x10, 0x42UL)], outs);
    }
}
