using KvmSharp.Abi;

namespace KvmSharp.Tests;

/// <summary>The VM-wide ioctls that do not need an in-kernel irqchip.</summary>
public class VmIoctlTests
{
    [Theory]
    [MemberData(nameof(Kernels.All), MemberType = typeof(Kernels))]
    public void TssAndIdentityMapAddressesAreAcceptedBeforeVcpusExist(string kernel)
    {
        using var kvm = Kernels.Open(kernel);
        using var vm = kvm.CreateVm();
        Assert.Equal(1, kvm.CheckExtension(KvmCap.SetTssAddr));
        vm.SetTssAddr(0xfffbd000);
        vm.SetIdentityMapAddr(0xfffbc000);
        using var vcpu = vm.CreateVcpu(0);
        // Once a vCPU exists the identity map can no longer move.
        Assert.Equal(Errno.EINVAL, Assert.Throws<KvmException>(() => vm.SetIdentityMapAddr(0xfeffc000)).Errno);
    }

    [Theory]
    [MemberData(nameof(Kernels.All), MemberType = typeof(Kernels))]
    public void EnablingAnUnknownCapabilityIsRefused(string kernel)
    {
        using var kvm = Kernels.Open(kernel);
        using var vm = kvm.CreateVm();
        var error = Assert.Throws<KvmException>(() => vm.EnableCap(new KvmEnableCap { Cap = 100_000 }));
        Assert.Equal(Errno.EINVAL, error.Errno);
        Assert.Equal("KVM_ENABLE_CAP", error.Operation);
        using var vcpu = vm.CreateVcpu(0);
        Assert.Equal(Errno.EINVAL, Assert.Throws<KvmException>(() => vcpu.EnableCap(new KvmEnableCap { Cap = 100_000 })).Errno);
    }

    [Theory]
    [MemberData(nameof(Kernels.All), MemberType = typeof(Kernels))]
    public void FeatureMsrsAndEmulatedCpuidAreListed(string kernel)
    {
        using var kvm = Kernels.Open(kernel);
        uint[] features = kvm.GetMsrFeatureIndexList();
        var entries = features.Select(index => new KvmMsrEntry { Index = index }).ToArray();
        Assert.Equal(entries.Length, kvm.GetFeatureMsrs(entries));
        _ = kvm.GetEmulatedCpuid(); // May be empty; it must not fail.
    }
}

/// <summary>Ioctls whose subject is the in-kernel irqchip, PIT, clock or MCE; Soft joins with issue 5.</summary>
public class PlatformIoctlTests
{
    [Theory]
    [MemberData(nameof(Kernels.WithIrqchip), MemberType = typeof(Kernels))]
    public void IrqchipStateRoundTripsAndUnknownChipsAreRefused(string kernel)
    {
        using var kvm = Kernels.Open(kernel);
        using var vm = kvm.CreateVm();
        Assert.Equal(Errno.ENXIO, Assert.Throws<KvmException>(() => vm.GetIrqchip(KvmConstants.KVM_IRQCHIP_PIC_MASTER)).Errno);
        vm.CreateIrqchip();
        Assert.Equal(Errno.EEXIST, Assert.Throws<KvmException>(() => vm.CreateIrqchip()).Errno);
        var pic = vm.GetIrqchip(KvmConstants.KVM_IRQCHIP_PIC_MASTER);
        pic.Pic.Imr = 0xfa;
        vm.SetIrqchip(pic);
        Assert.Equal(0xfa, vm.GetIrqchip(KvmConstants.KVM_IRQCHIP_PIC_MASTER).Pic.Imr);
        var ioapic = vm.GetIrqchip(KvmConstants.KVM_IRQCHIP_IOAPIC);
        Assert.Equal(0xfec00000UL, ioapic.Ioapic.BaseAddress);
        Assert.Equal(Errno.EINVAL, Assert.Throws<KvmException>(() => vm.GetIrqchip(3)).Errno);
        vm.IrqLine(4, true);
        vm.IrqLine(4, false);
        // IRQ 4 is masked in the PIC (IMR 0xfa) and in the IOAPIC (pins start masked): not delivered.
        Assert.Equal(-1, vm.IrqLineStatus(4, true));
    }

    [Theory]
    [MemberData(nameof(Kernels.WithIrqchip), MemberType = typeof(Kernels))]
    public void PitStateRoundTrips(string kernel)
    {
        using var kvm = Kernels.Open(kernel);
        using var vm = kvm.CreateVm();
        vm.CreateIrqchip();
        vm.CreatePit2();
        Assert.Equal(Errno.EEXIST, Assert.Throws<KvmException>(() => vm.CreatePit2()).Errno);
        var state = vm.GetPit2();
        state.Channels[0].Mode = 2;
        vm.SetPit2(state);
        Assert.Equal(2, vm.GetPit2().Channels[0].Mode);
        var old = vm.GetPit();
        vm.SetPit(old);
        vm.ReinjectControl(false);
    }

    [Theory]
    [MemberData(nameof(Kernels.WithIrqchip), MemberType = typeof(Kernels))]
    public void RoutingMsiIrqfdAndIoeventfdAreAccepted(string kernel)
    {
        using var kvm = Kernels.Open(kernel);
        using var vm = kvm.CreateVm();
        vm.CreateIrqchip();
        using var vcpu = vm.CreateVcpu(0);
        var routes = new[]
        {
            new KvmIrqRoutingEntry { Gsi = 30, Type = KvmConstants.KVM_IRQ_ROUTING_MSI, Msi = new KvmIrqRoutingMsi { AddressLo = 0xfee00000, Data = 0x41 } },
            new KvmIrqRoutingEntry { Gsi = 4, Type = KvmConstants.KVM_IRQ_ROUTING_IRQCHIP, Irqchip = new KvmIrqRoutingIrqchip { Irqchip = KvmConstants.KVM_IRQCHIP_IOAPIC, Pin = 4 } },
        };
        vm.SetGsiRouting(routes);
        var bad = new[] { new KvmIrqRoutingEntry { Gsi = 1, Type = 99 } };
        Assert.Equal(Errno.EINVAL, Assert.Throws<KvmException>(() => vm.SetGsiRouting(bad)).Errno);
        Assert.True(vm.SignalMsi(new KvmMsi { AddressLo = 0xfee00000, Data = 0x42 }) >= 0);

        using var irq = new EventFd();
        vm.Irqfd(new KvmIrqfd { Fd = (uint)irq.Fd, Gsi = 30 });
        Assert.Equal(Errno.EBUSY, Assert.Throws<KvmException>(() => vm.Irqfd(new KvmIrqfd { Fd = (uint)irq.Fd, Gsi = 30 })).Errno);
        vm.Irqfd(new KvmIrqfd { Fd = (uint)irq.Fd, Gsi = 30, Flags = KvmConstants.KVM_IRQFD_FLAG_DEASSIGN });

        using var notify = new EventFd();
        var ioeventfd = new KvmIoeventfd { Addr = 0x510, Len = 2, Fd = notify.Fd, Flags = KvmConstants.KVM_IOEVENTFD_FLAG_PIO };
        vm.Ioeventfd(ioeventfd);
        Assert.Equal(Errno.EEXIST, Assert.Throws<KvmException>(() => vm.Ioeventfd(ioeventfd)).Errno);
        Assert.Equal(Errno.EINVAL, Assert.Throws<KvmException>(() => vm.Ioeventfd(ioeventfd with { Len = 3 })).Errno);
    }

    [Theory]
    [MemberData(nameof(Kernels.WithIrqchip), MemberType = typeof(Kernels))]
    public void LapicAndBootCpuAndClock(string kernel)
    {
        using var kvm = Kernels.Open(kernel);
        using var vm = kvm.CreateVm();
        vm.CreateIrqchip();
        vm.SetBootCpuId(0);
        using var vcpu = vm.CreateVcpu(0);
        Assert.Equal(Errno.EBUSY, Assert.Throws<KvmException>(() => vm.SetBootCpuId(1)).Errno);
        var lapic = vcpu.GetLapic();
        vcpu.SetLapic(lapic);
        var clock = vm.GetClock();
        vm.SetClock(new KvmClockData { Clock = clock.Clock + 1_000_000_000 });
        Assert.True(vm.GetClock().Clock >= clock.Clock + 1_000_000_000);
    }
}
