using KvmSharp.Abi;

namespace KvmSharp.Tests;

public class VcpuMiscTests
{
    [Theory]
    [MemberData(nameof(Kernels.All), MemberType = typeof(Kernels))]
    public void SignalMaskMustBeTheKernelsEightByteSigset(string kernel)
    {
        using var kvm = Kernels.Open(kernel);
        using var vm = kvm.CreateVm();
        using var vcpu = vm.CreateVcpu(0);
        vcpu.SetSignalMask(new byte[8]);
        Assert.Equal(Errno.EINVAL, Assert.Throws<KvmException>(() => vcpu.SetSignalMask(new byte[128])).Errno);
        vcpu.SetSignalMask(default, remove: true);
    }

    [Theory]
    [MemberData(nameof(Kernels.All), MemberType = typeof(Kernels))]
    public void LegacySetCpuidIsAcceptedAndSeenThroughGetCpuid2(string kernel)
    {
        using var kvm = Kernels.Open(kernel);
        using var vm = kvm.CreateVm();
        using var vcpu = vm.CreateVcpu(0);
        vcpu.SetCpuid([new KvmCpuidEntry { Function = 0, Eax = 1 }, new KvmCpuidEntry { Function = 1, Eax = 0x600 }]);
        var back = new KvmCpuidEntry2[8];
        int got = vcpu.GetCpuid2(back);
        // The two entries come back first, unchanged. This Host's kernel then
        // appends its own leaf 0xD (XSAVE component) sub-leaves with the
        // significant-index flag; Soft, which has no XSAVE, appends none.
        Assert.True(got >= 2);
        Assert.All(back.Skip(2).Take(got - 2), e => Assert.Equal(0xdu, e.Function));
        Assert.Equal(0u, back[0].Function);
        Assert.Equal(1u, back[0].Eax);
        Assert.Equal(1u, back[1].Function);
        Assert.Equal(0x600u, back[1].Eax);
    }

    [Theory]
    [MemberData(nameof(Kernels.All), MemberType = typeof(Kernels))]
    public void TscRateCanBeSetWhereTheKernelScalesIt(string kernel)
    {
        using var kvm = Kernels.Open(kernel);
        using var vm = kvm.CreateVm();
        using var vcpu = vm.CreateVcpu(0);
        int khz = vcpu.GetTscKhz();
        if (kvm.CheckExtension(KvmCap.TscControl) == 0)
        {
            // Without TSC scaling (this Host: kvm_pvm) only the current rate is accepted.
            vcpu.SetTscKhz((uint)khz);
            Assert.Equal(khz, vcpu.GetTscKhz());
            return;
        }
        vcpu.SetTscKhz(1_000_000);
        Assert.Equal(1_000_000, vcpu.GetTscKhz());
    }

    [Theory]
    [MemberData(nameof(Kernels.All), MemberType = typeof(Kernels))]
    public void KvmclockCtrlNeedsAGuestKvmclock(string kernel)
    {
        using var kvm = Kernels.Open(kernel);
        using var vm = kvm.CreateVm();
        using var vcpu = vm.CreateVcpu(0);
        // The guest never enabled kvmclock (MSR_KVM_SYSTEM_TIME_NEW), so there is nothing to flag.
        Assert.Equal(Errno.EINVAL, Assert.Throws<KvmException>(() => vcpu.KvmclockCtrl()).Errno);
    }

    [Theory]
    [MemberData(nameof(Kernels.WithIrqchip), MemberType = typeof(Kernels))]
    public void TprReportingVapicAndMceInjection(string kernel)
    {
        using var kvm = Kernels.Open(kernel);
        using var vm = kvm.CreateVm();
        vm.CreateIrqchip();
        using var vcpu = vm.CreateVcpu(0);
        vcpu.TprAccessReporting(true);
        vcpu.SetVapicAddr(0);
    }

    [Theory]
    [MemberData(nameof(Kernels.All), MemberType = typeof(Kernels))]
    public void MachineChecksAreSetUpAndInjectedWhereTheKernelOffersThem(string kernel)
    {
        using var kvm = Kernels.Open(kernel);
        using var vm = kvm.CreateVm();
        using var vcpu = vm.CreateVcpu(0);
        if (kvm.CheckExtension(KvmCap.Mce) == 0)
        {
            // Soft has no machine-check banks: the MCE ioctls are unknown to it.
            Assert.Equal(Errno.EINVAL, Assert.Throws<KvmException>(() => kvm.GetMceCapSupported()).Errno);
            Assert.Equal(Errno.EINVAL, Assert.Throws<KvmException>(() => vcpu.SetupMce(1)).Errno);
            return;
        }
        Assert.True(kvm.GetMceCapSupported() != 0);
        // The low byte of MCG_CAP is the bank count: at least one bank is required.
        Assert.Equal(Errno.EINVAL, Assert.Throws<KvmException>(() => vcpu.SetupMce(0)).Errno);
        vcpu.SetupMce(1);
        // Bank 5 does not exist with one bank.
        Assert.Equal(Errno.EINVAL, Assert.Throws<KvmException>(() => vcpu.SetMce(new KvmX86Mce { Bank = 5, Status = 1UL << 63 })).Errno);
    }
}
