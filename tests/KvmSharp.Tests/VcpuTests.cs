using KvmSharp.Abi;
using static Iced.Intel.AssemblerRegisters;

namespace KvmSharp.Tests;

public class VcpuTests
{
    [Theory]
    [MemberData(nameof(Kernels.All), MemberType = typeof(Kernels))]
    public void VcpuIdsAreLimitedAndUnique(string kernel)
    {
        using var kvm = Kernels.Open(kernel);
        using var vm = kvm.CreateVm();
        uint maxId = (uint)kvm.CheckExtension(KvmCap.MaxVcpuId);
        var tooBig = Assert.Throws<KvmException>(() => vm.CreateVcpu(maxId));
        Assert.Equal(Errno.EINVAL, tooBig.Errno);
        Assert.Contains($"vCPU id {maxId}", tooBig.Message);
        using var first = vm.CreateVcpu(0);
        Assert.Equal(Errno.EEXIST, Assert.Throws<KvmException>(() => vm.CreateVcpu(0)).Errno);
        using var second = vm.CreateVcpu(1);
    }

    [Theory]
    [MemberData(nameof(Kernels.All), MemberType = typeof(Kernels))]
    public void RegistersRoundTrip(string kernel)
    {
        using var kvm = Kernels.Open(kernel);
        using var vm = kvm.CreateVm();
        using var vcpu = vm.CreateVcpu(0);
        var regs = new KvmRegs
        {
            Rax = 1, Rbx = 2, Rcx = 3, Rdx = 4, Rsi = 5, Rdi = 6, Rsp = 7, Rbp = 8,
            R8 = 9, R9 = 10, R10 = 11, R11 = 12, R12 = 13, R13 = 14, R14 = 15, R15 = 0xffff_ffff_ffff_fff0,
            Rip = 0x1234, Rflags = 0x202,
        };
        vcpu.SetRegs(regs);
        Assert.Equal(regs, vcpu.GetRegs());
    }

    [Theory]
    [MemberData(nameof(Kernels.All), MemberType = typeof(Kernels))]
    public void ResetStateIsTheArchitecturalOne(string kernel)
    {
        using var kvm = Kernels.Open(kernel);
        using var vm = kvm.CreateVm();
        using var vcpu = vm.CreateVcpu(0);
        var regs = vcpu.GetRegs();
        Assert.Equal(0xfff0UL, regs.Rip);
        Assert.Equal(0x2UL, regs.Rflags);
        var sregs = vcpu.GetSregs();
        Assert.Equal(0xf000, sregs.Cs.Selector);
        Assert.Equal(0xffff0000UL, sregs.Cs.Base);
        Assert.Equal(0x60000010UL, sregs.Cr0);
        Assert.Equal(KvmMpState.Runnable, vcpu.GetMpState());
    }

    [Theory]
    [MemberData(nameof(Kernels.All), MemberType = typeof(Kernels))]
    public void SpecialRegistersRoundTripAndInconsistentOnesAreRefused(string kernel)
    {
        using var kvm = Kernels.Open(kernel);
        using var vm = kvm.CreateVm();
        using var vcpu = vm.CreateVcpu(0);
        var sregs = vcpu.GetSregs();
        sregs.Ds.Base = 0x12340;
        sregs.Ds.Selector = 0x1234;
        sregs.Gdt.Base = 0x5000;
        sregs.Gdt.Limit = 0x27;
        sregs.Cr3 = 0x9000;
        vcpu.SetSregs(sregs);
        var back = vcpu.GetSregs();
        Assert.Equal(0x12340UL, back.Ds.Base);
        Assert.Equal(0x1234, back.Ds.Selector);
        Assert.Equal(0x5000UL, back.Gdt.Base);
        Assert.Equal(0x27, back.Gdt.Limit);
        Assert.Equal(0x9000UL, back.Cr3);

        // Long mode active with paging off is an impossible state: KVM refuses it.
        var bad = back;
        bad.Efer |= 0x500; // LME | LMA
        Assert.Equal(Errno.EINVAL, Assert.Throws<KvmException>(() => vcpu.SetSregs(bad)).Errno);
        Assert.Equal(back.Efer, vcpu.GetSregs().Efer);
    }

    [Theory]
    [MemberData(nameof(Kernels.All), MemberType = typeof(Kernels))]
    public unsafe void FpuAndDebugRegistersRoundTrip(string kernel)
    {
        using var kvm = Kernels.Open(kernel);
        using var vm = kvm.CreateVm();
        using var vcpu = vm.CreateVcpu(0);
        var fpu = vcpu.GetFpu();
        Assert.Equal(0x37f, fpu.Fcw); // The x87 reset control word.
        fpu.Xmm[0] = 0xab;
        fpu.Xmm[255] = 0xcd;
        fpu.Mxcsr = 0x1f00;
        vcpu.SetFpu(fpu);
        var back = vcpu.GetFpu();
        Assert.Equal(0xab, back.Xmm[0]);
        Assert.Equal(0xcd, back.Xmm[255]);
        // KVM's GET/SET_FPU copy neither way the mxcsr field (x86.c fills the
        // other fields only); MXCSR travels in KVM_GET/SET_XSAVE instead.
        Assert.Equal(0u, back.Mxcsr);

        var debug = vcpu.GetDebugRegs();
        Assert.Equal(0xffff0ff0UL, debug.Dr6);
        Assert.Equal(0x400UL, debug.Dr7);
        debug.Db[0] = 0x1000;
        debug.Dr7 = 0x401;
        vcpu.SetDebugRegs(debug);
        var debugBack = vcpu.GetDebugRegs();
        Assert.Equal(0x1000UL, debugBack.Db[0]);
        Assert.Equal(0x401UL, debugBack.Dr7);
    }

    [Theory]
    [MemberData(nameof(Kernels.All), MemberType = typeof(Kernels))]
    public void MsrsAreWrittenAndReadInOrderAndStopAtTheFirstUnknownOne(string kernel)
    {
        using var kvm = Kernels.Open(kernel);
        using var vm = kvm.CreateVm();
        using var vcpu = vm.CreateVcpu(0);
        const uint Lstar = 0xC0000082, Star = 0xC0000081, Unknown = 0x4000_ffff;
        var entries = new[]
        {
            new KvmMsrEntry { Index = Lstar, Data = 0xffff_8000_0000_1000 },
            new KvmMsrEntry { Index = Star, Data = 0x0023_0010_0000_0000 },
            new KvmMsrEntry { Index = Unknown, Data = 1 },
            new KvmMsrEntry { Index = Lstar, Data = 0 },
        };
        Assert.Equal(2, vcpu.SetMsrs(entries));

        var read = new[] { new KvmMsrEntry { Index = Lstar }, new KvmMsrEntry { Index = Unknown }, new KvmMsrEntry { Index = Star } };
        Assert.Equal(1, vcpu.GetMsrs(read));
        Assert.Equal(0xffff_8000_0000_1000UL, read[0].Data);
        Assert.Equal(0UL, read[2].Data); // Not reached.
        var star = new[] { new KvmMsrEntry { Index = Star } };
        Assert.Equal(1, vcpu.GetMsrs(star));
        Assert.Equal(0x0023_0010_0000_0000UL, star[0].Data);
    }

    [Theory]
    [MemberData(nameof(Kernels.All), MemberType = typeof(Kernels))]
    public void CpuidSetOnAVcpuIsReadBack(string kernel)
    {
        using var kvm = Kernels.Open(kernel);
        using var vm = kvm.CreateVm();
        using var vcpu = vm.CreateVcpu(0);
        var supported = kvm.GetSupportedCpuid();
        vcpu.SetCpuid2(supported);
        var back = new KvmCpuidEntry2[supported.Length];
        Assert.Equal(supported.Length, vcpu.GetCpuid2(back));
        Assert.Equal(supported.Select(e => (e.Function, e.Index)), back.Select(e => (e.Function, e.Index)));
        Assert.Equal(Errno.E2BIG, Assert.Throws<KvmException>(() => vcpu.GetCpuid2(new KvmCpuidEntry2[1])).Errno);
        var tooMany = new KvmCpuidEntry2[300];
        Assert.Equal(Errno.E2BIG, Assert.Throws<KvmException>(() => vcpu.SetCpuid2(tooMany)).Errno);
        Assert.Equal(supported.Length, vcpu.GetCpuid2(back)); // The refused set changed nothing.
    }

    [Theory]
    [MemberData(nameof(Kernels.All), MemberType = typeof(Kernels))]
    public unsafe void InvalidDebugRegistersAndEventsAreRefusedAndChangeNothing(string kernel)
    {
        using var kvm = Kernels.Open(kernel);
        using var vm = kvm.CreateVm();
        using var vcpu = vm.CreateVcpu(0);
        var before = vcpu.GetDebugRegs();
        KvmDebugregs highDr7 = WithDr0(before, 0x1234), withFlags = WithDr0(before, 0x1234);
        highDr7.Dr7 = 1UL << 32; // DR7 is a 32-bit register.
        withFlags.Flags = 1;
        Assert.Equal(Errno.EINVAL, Assert.Throws<KvmException>(() => vcpu.SetDebugRegs(highDr7)).Errno);
        Assert.Equal(Errno.EINVAL, Assert.Throws<KvmException>(() => vcpu.SetDebugRegs(withFlags)).Errno);
        var after = vcpu.GetDebugRegs();
        Assert.Equal(before.Db[0], after.Db[0]);

        var events = vcpu.GetVcpuEvents();
        var badEvents = events;
        badEvents.Flags = 0x8000_0000;
        Assert.Equal(Errno.EINVAL, Assert.Throws<KvmException>(() => vcpu.SetVcpuEvents(badEvents)).Errno);
        badEvents = events;
        badEvents.Exception.Injected = 1;
        badEvents.Exception.Nr = 2; // NMI is not an exception that can be injected as one.
        Assert.Equal(Errno.EINVAL, Assert.Throws<KvmException>(() => vcpu.SetVcpuEvents(badEvents)).Errno);
        Assert.Equal(0, vcpu.GetVcpuEvents().Exception.Injected);
    }

    private static unsafe KvmDebugregs WithDr0(KvmDebugregs regs, ulong dr0)
    {
        regs.Db[0] = dr0;
        return regs;
    }

    [Theory]
    [MemberData(nameof(Kernels.All), MemberType = typeof(Kernels))]
    public void MpStateAndEventsRoundTrip(string kernel)
    {
        using var kvm = Kernels.Open(kernel);
        using var vm = kvm.CreateVm();
        using var vcpu = vm.CreateVcpu(0);
        var events = vcpu.GetVcpuEvents();
        Assert.Equal(0, events.Nmi.Pending);
        events.Nmi.Pending = 1;
        events.Flags = KvmConstants.KVM_VCPUEVENT_VALID_NMI_PENDING;
        vcpu.SetVcpuEvents(events);
        Assert.Equal(1, vcpu.GetVcpuEvents().Nmi.Pending);

        // Without an in-kernel local APIC only RUNNABLE is a valid state.
        Assert.Equal(Errno.EINVAL, Assert.Throws<KvmException>(() => vcpu.SetMpState(KvmMpState.Halted)).Errno);
        vcpu.SetMpState(KvmMpState.Runnable);
        Assert.Equal(KvmMpState.Runnable, vcpu.GetMpState());
    }

    [Theory]
    [MemberData(nameof(Kernels.WithIrqchip), MemberType = typeof(Kernels))]
    public void WithAnIrqchipEveryX86MpStateCanBeSet(string kernel)
    {
        using var kvm = Kernels.Open(kernel);
        using var vm = kvm.CreateVm();
        vm.CreateIrqchip();
        using var vcpu = vm.CreateVcpu(0);
        vcpu.SetMpState(KvmMpState.Halted);
        Assert.Equal(KvmMpState.Halted, vcpu.GetMpState());
        Assert.Equal(Errno.EINVAL, Assert.Throws<KvmException>(() => vcpu.SetMpState((KvmMpState)77)).Errno);
        Assert.Equal(KvmMpState.Halted, vcpu.GetMpState());
        Assert.Equal(Errno.ENXIO, Assert.Throws<KvmException>(() => vcpu.Interrupt(0x20)).Errno);
    }

    [Theory]
    [MemberData(nameof(Kernels.All), MemberType = typeof(Kernels))]
    public unsafe void XcrsAndXsaveRoundTrip(string kernel)
    {
        using var kvm = Kernels.Open(kernel);
        using var vm = kvm.CreateVm();
        using var vcpu = vm.CreateVcpu(0);
        vcpu.SetCpuid2(kvm.GetSupportedCpuid());
        var xcrs = vcpu.GetXcrs();
        Assert.Equal(1u, xcrs.NrXcrs);
        Assert.Equal(1UL, xcrs.Xcrs[0].Value & 1); // x87 state is always enabled in XCR0.
        vcpu.SetXcrs(xcrs);
        var xsave = vcpu.GetXsave();
        vcpu.SetXsave(xsave);
        var saved = vcpu.GetXsave();
        Assert.Equal(vcpu.GetFpu().Fcw, (ushort)(saved.Region[0] & 0xffff)); // FXSAVE layout: FCW first.

        var bad = xcrs;
        bad.Xcrs[0].Value = 0; // XCR0 bit 0 must stay set.
        Assert.Equal(Errno.EINVAL, Assert.Throws<KvmException>(() => vcpu.SetXcrs(bad)).Errno);
        Assert.Equal(xcrs.Xcrs[0].Value, vcpu.GetXcrs().Xcrs[0].Value);
    }

    [Theory]
    [MemberData(nameof(Kernels.All), MemberType = typeof(Kernels))]
    public void TranslateInRealModeIsTheIdentity(string kernel)
    {
        using var kvm = Kernels.Open(kernel);
        using var vm = kvm.CreateVm();
        using var vcpu = vm.CreateVcpu(0);
        var t = vcpu.Translate(0x12345);
        Assert.Equal(1, t.Valid);
        Assert.Equal(0x12345UL, t.PhysicalAddress);
    }

    [Theory]
    [MemberData(nameof(Kernels.All), MemberType = typeof(Kernels))]
    public void InterruptVectorMustBeBelow256AndNeedsNoIrqchip(string kernel)
    {
        using var kvm = Kernels.Open(kernel);
        using var vm = kvm.CreateVm();
        using var vcpu = vm.CreateVcpu(0);
        Assert.Equal(Errno.EINVAL, Assert.Throws<KvmException>(() => vcpu.Interrupt(256)).Errno);
        vcpu.Interrupt(0x20);
        vcpu.Nmi();
    }

    [Theory]
    [MemberData(nameof(Kernels.All), MemberType = typeof(Kernels))]
    public void TscFrequencyIsReported(string kernel)
    {
        using var kvm = Kernels.Open(kernel);
        using var vm = kvm.CreateVm();
        using var vcpu = vm.CreateVcpu(0);
        Assert.True(vcpu.GetTscKhz() > 100_000);
    }
}
