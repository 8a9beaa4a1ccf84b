using KvmSharp.Abi;
using static Iced.Intel.AssemblerRegisters;

namespace KvmSharp.Tests;

/// <summary>
/// What userspace observes between an exit and the next KVM_RUN: where RIP
/// stands and what the run block says. VMMs depend on these details.
/// </summary>
public class ExitStateTests
{
    [Theory]
    [MemberData(nameof(Kernels.All), MemberType = typeof(Kernels))]
    public void RipAtPortAndMmioExitsAndAfterTheirCompletion(string kernel)
    {
        using var kvm = Kernels.Open(kernel);
        using var guest = new RealModeGuest(kvm, a =>
        {
            a.@out(0x10, al);                      // 0x1000, 2 bytes
            a.@in(al, 0x11);                       // 0x1002, 2 bytes
            a.mov(bx, 0x2000);                     // 0x1004, 3 bytes
            a.mov(ds, bx);                         // 0x1007, 2 bytes
            a.mov(__byte_ptr[0], al);              // 0x1009, 3 bytes (moffs form): MMIO write at 0x20000
            a.mov(cl, __byte_ptr[1]);              // 0x100c, 4 bytes: MMIO read at 0x20001
            a.hlt();                               // 0x1010
        });
        var vcpu = guest.Vcpu;
        Assert.Equal(KvmExitReason.Io, vcpu.Run().Reason);
        ulong ripAtOut = vcpu.GetRegs().Rip;
        Assert.Equal(KvmExitReason.Io, vcpu.Run().Reason);
        ulong ripAtIn = vcpu.GetRegs().Rip;
        vcpu.Io.Data[0] = 0x5a;
        Assert.Equal(KvmExitReason.Mmio, vcpu.Run().Reason);
        Assert.Equal(0x5aUL, vcpu.GetRegs().Rax & 0xff);
        ulong ripAtMmioWrite = vcpu.GetRegs().Rip;
        Assert.Equal(KvmExitReason.Mmio, vcpu.Run().Reason);
        ulong ripAtMmioRead = vcpu.GetRegs().Rip;
        vcpu.Mmio.Data[0] = 0x33;
        Assert.Equal(KvmExitReason.Hlt, vcpu.Run().Reason);
        Assert.Equal(0x33UL, vcpu.GetRegs().Rcx & 0xff);
        Assert.Equal(0x1011UL, vcpu.GetRegs().Rip); // Past the HLT.

        // Writes are complete when the exit is reported (RIP is past them); reads
        // finish on the next KVM_RUN with userspace's data (RIP still at them).
        // This is KVM's instruction-emulator behaviour, which is what runs guest
        // ring-0 code on this project's Host (kvm_pvm). On VMX/SVM hardware KVM's
        // fast-PIO path would instead leave RIP at an OUT until the next KVM_RUN
        // (complete_fast_pio_out); Soft, itself an emulator, follows the emulator.
        Assert.Equal(0x1002UL, ripAtOut);
        Assert.Equal(0x1002UL, ripAtIn);
        Assert.Equal(0x100cUL, ripAtMmioWrite);
        Assert.Equal(0x100cUL, ripAtMmioRead);
    }

    [Theory]
    [MemberData(nameof(Kernels.All), MemberType = typeof(Kernels))]
    public void ImmediateExitLeavesTheLastExitReasonInTheRunBlock(string kernel)
    {
        using var kvm = Kernels.Open(kernel);
        using var guest = new RealModeGuest(kvm, a => { a.@out(0x10, al); a.hlt(); });
        Assert.Equal(KvmExitReason.Io, guest.Vcpu.Run().Reason);
        guest.Vcpu.RunBlock.ImmediateExit = 1;
        Assert.Equal(Errno.EINTR, guest.Vcpu.Run().Errno);
        Assert.Equal(KvmExitReason.Io, guest.Vcpu.RunBlock.ExitReason);
        guest.Vcpu.RunBlock.ImmediateExit = 0;
        Assert.Equal(KvmExitReason.Hlt, guest.Vcpu.Run().Reason);
    }

    [Theory]
    [MemberData(nameof(Kernels.All), MemberType = typeof(Kernels))]
    public void RunBlockReportsInterruptFlagAndReadiness(string kernel)
    {
        using var kvm = Kernels.Open(kernel);
        using var guest = new RealModeGuest(kvm, a => { a.sti(); a.nop(); a.@out(0x10, al); a.cli(); a.@out(0x10, al); a.hlt(); });
        Assert.Equal(KvmExitReason.Io, guest.Vcpu.Run().Reason);
        Assert.Equal(1, guest.Vcpu.RunBlock.IfFlag);
        Assert.Equal(1, guest.Vcpu.RunBlock.ReadyForInterruptInjection);
        Assert.Equal(KvmExitReason.Io, guest.Vcpu.Run().Reason);
        Assert.Equal(0, guest.Vcpu.RunBlock.IfFlag);
        Assert.Equal(0, guest.Vcpu.RunBlock.ReadyForInterruptInjection);
    }
}

public class UnknownIoctlTests
{
    [Theory]
    [MemberData(nameof(Kernels.All), MemberType = typeof(Kernels))]
    public void EachHandleRefusesARequestItDoesNotKnowWithItsOwnErrno(string kernel)
    {
        using var kvm = Kernels.Open(kernel);
        using var vm = kvm.CreateVm();
        using var vcpu = vm.CreateVcpu(0);
        ulong unknown = KvmIoctls.Io(0xfe);
        // x86 KVM: the system handle and vCPUs answer EINVAL (kvm_arch_dev_ioctl,
        // kvm_arch_vcpu_ioctl), a VM answers ENOTTY (kvm_arch_vm_ioctl).
        Assert.Equal(-(int)Errno.EINVAL, kvm.Handle.Ioctl(unknown, 0));
        Assert.Equal(-(int)Errno.ENOTTY, vm.Handle.Ioctl(unknown, 0));
        Assert.Equal(-(int)Errno.EINVAL, vcpu.Handle.Ioctl(unknown, 0));
        // The type byte is not checked: a terminal request on /dev/kvm is just another unknown one.
        Assert.Equal(-(int)Errno.EINVAL, kvm.Handle.Ioctl(0x5401 /* TCGETS */, 0));
        Assert.Equal(-(int)Errno.ENOTTY, vm.Handle.Ioctl(0x5401, 0));
    }
}
