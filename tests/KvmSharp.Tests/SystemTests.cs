using KvmSharp.Abi;

namespace KvmSharp.Tests;

public class SystemTests
{
    [Theory]
    [MemberData(nameof(Kernels.All), MemberType = typeof(Kernels))]
    public void ApiVersionIsTwelve(string kernel)
    {
        using var kvm = Kernels.Open(kernel);
        Assert.Equal(12, kvm.GetApiVersion());
    }

    [Theory]
    [MemberData(nameof(Kernels.All), MemberType = typeof(Kernels))]
    public void BasicCapabilitiesArePresentAndUnknownOnesAreZero(string kernel)
    {
        using var kvm = Kernels.Open(kernel);
        Assert.Equal(1, kvm.CheckExtension(KvmCap.UserMemory));
        Assert.True(kvm.CheckExtension(KvmCap.NrMemslots) >= 32);
        Assert.True(kvm.CheckExtension(KvmCap.MaxVcpuId) >= 1);
        // The document: "0 means no"; a number KVM has never defined is simply absent.
        Assert.Equal(0, kvm.CheckExtension((KvmCap)100_000));
    }

    [Theory]
    [MemberData(nameof(Kernels.All), MemberType = typeof(Kernels))]
    public unsafe void VcpuMappingHoldsTheRunBlockInWholePages(string kernel)
    {
        using var kvm = Kernels.Open(kernel);
        int size = kvm.GetVcpuMmapSize();
        Assert.True(size >= sizeof(KvmRun));
        Assert.Equal(0, size % 4096);
    }

    [Theory]
    [MemberData(nameof(Kernels.All), MemberType = typeof(Kernels))]
    public void MsrIndexListReportsItsSizeWhenTheBufferIsTooSmall(string kernel)
    {
        using var kvm = Kernels.Open(kernel);
        uint[] all = kvm.GetMsrIndexList();
        Assert.Contains(0x10u, all); // IA32_TIME_STAMP_COUNTER is always saved and restored.

        var small = new uint[1];
        var error = Assert.Throws<KvmException>(() => kvm.GetMsrIndexList(small, out _));
        Assert.Equal(Errno.E2BIG, error.Errno);
        Assert.Equal("KVM_GET_MSR_INDEX_LIST", error.Operation);
        Assert.Equal(0u, small[0]); // Nothing was copied on failure.

        var exact = new uint[all.Length];
        Assert.Equal(all.Length, kvm.GetMsrIndexList(exact, out int required));
        Assert.Equal(all.Length, required);
        Assert.Equal(all, exact);
    }

    [Theory]
    [MemberData(nameof(Kernels.All), MemberType = typeof(Kernels))]
    public void SupportedCpuidHasTheBasicLeavesAndRefusesATooSmallBuffer(string kernel)
    {
        using var kvm = Kernels.Open(kernel);
        var entries = kvm.GetSupportedCpuid();
        Assert.Contains(entries, e => e.Function == 0);
        Assert.Contains(entries, e => e.Function == 1);
        Assert.Contains(entries, e => e.Function == 0x80000001);
        uint maxBasic = entries.First(e => e.Function == 0).Eax;
        Assert.All(entries.Where(e => e.Function < 0x40000000), e => Assert.True(e.Function <= maxBasic));

        var one = new KvmCpuidEntry2[1];
        var error = Assert.Throws<KvmException>(() => kvm.GetSupportedCpuid(one));
        Assert.Equal(Errno.E2BIG, error.Errno);
    }

    [Theory]
    [MemberData(nameof(Kernels.All), MemberType = typeof(Kernels))]
    public void UnknownMachineTypeIsRefused(string kernel)
    {
        using var kvm = Kernels.Open(kernel);
        var error = Assert.Throws<KvmException>(() => kvm.CreateVm(0xdead));
        Assert.Equal(Errno.EINVAL, error.Errno);
        Assert.Equal("KVM_CREATE_VM", error.Operation);
        using var vm = kvm.CreateVm(); // The refusal left the system handle usable.
    }

    [Theory]
    [MemberData(nameof(Kernels.All), MemberType = typeof(Kernels))]
    public void ClosedHandlesAnswerEbadf(string kernel)
    {
        var kvm = Kernels.Open(kernel);
        var vm = kvm.CreateVm();
        var vcpu = vm.CreateVcpu(0);
        vcpu.Dispose();
        vm.Dispose();
        kvm.Dispose();
        Assert.Equal(Errno.EBADF, Assert.Throws<KvmException>(() => kvm.GetApiVersion()).Errno);
        Assert.Equal(Errno.EBADF, Assert.Throws<KvmException>(() => vm.CreateVcpu(1)).Errno);
        Assert.Equal(Errno.EBADF, Assert.Throws<KvmException>(() => vcpu.GetRegs()).Errno);
        Assert.Equal(Errno.EBADF, Assert.Throws<KvmException>(() => vcpu.Run()).Errno);
    }

    [Theory]
    [MemberData(nameof(Kernels.All), MemberType = typeof(Kernels))]
    public void ErrorMessagesNameTheCallTheErrnoAndTheArgument(string kernel)
    {
        using var kvm = Kernels.Open(kernel);
        var error = Assert.Throws<KvmException>(() => kvm.CreateVm(0xdead));
        Assert.Contains("KVM_CREATE_VM", error.Message);
        Assert.Contains("EINVAL", error.Message);
        Assert.Contains("machine type 57005", error.Message);
    }
}
