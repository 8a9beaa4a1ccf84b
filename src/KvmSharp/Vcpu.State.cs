using KvmSharp.Abi;
using static KvmSharp.Abi.KvmIoctls;

namespace KvmSharp;

// Register and event state of a vCPU: one method per ioctl.
public sealed unsafe partial class Vcpu
{
    private T Get<T>(ulong request, string name) where T : unmanaged
    {
        T value = default;
        Handle.Call(request, (nint)(&value), name, () => $"vCPU {Id}");
        return value;
    }

    private void Set<T>(ulong request, string name, in T value) where T : unmanaged
    {
        T copy = value;
        Handle.Call(request, (nint)(&copy), name, () => $"vCPU {Id}");
    }

    /// <summary>KVM_GET_REGS.</summary>
    [KvmIoctl("KVM_GET_REGS")]
    public KvmRegs GetRegs() => Get<KvmRegs>(KVM_GET_REGS, nameof(KVM_GET_REGS));

    /// <summary>KVM_SET_REGS.</summary>
    [KvmIoctl("KVM_SET_REGS")]
    public void SetRegs(in KvmRegs regs) => Set(KVM_SET_REGS, nameof(KVM_SET_REGS), regs);

    /// <summary>KVM_GET_SREGS.</summary>
    [KvmIoctl("KVM_GET_SREGS")]
    public KvmSregs GetSregs() => Get<KvmSregs>(KVM_GET_SREGS, nameof(KVM_GET_SREGS));

    /// <summary>KVM_SET_SREGS.</summary>
    [KvmIoctl("KVM_SET_SREGS")]
    public void SetSregs(in KvmSregs sregs) => Set(KVM_SET_SREGS, nameof(KVM_SET_SREGS), sregs);

    /// <summary>KVM_GET_FPU.</summary>
    [KvmIoctl("KVM_GET_FPU")]
    public KvmFpu GetFpu() => Get<KvmFpu>(KVM_GET_FPU, nameof(KVM_GET_FPU));

    /// <summary>KVM_SET_FPU.</summary>
    [KvmIoctl("KVM_SET_FPU")]
    public void SetFpu(in KvmFpu fpu) => Set(KVM_SET_FPU, nameof(KVM_SET_FPU), fpu);

    /// <summary>KVM_GET_LAPIC (needs an in-kernel irqchip).</summary>
    [KvmIoctl("KVM_GET_LAPIC")]
    public KvmLapicState GetLapic() => Get<KvmLapicState>(KVM_GET_LAPIC, nameof(KVM_GET_LAPIC));

    /// <summary>KVM_SET_LAPIC.</summary>
    [KvmIoctl("KVM_SET_LAPIC")]
    public void SetLapic(in KvmLapicState lapic) => Set(KVM_SET_LAPIC, nameof(KVM_SET_LAPIC), lapic);

    /// <summary>KVM_GET_MP_STATE.</summary>
    [KvmIoctl("KVM_GET_MP_STATE")]
    public KvmMpState GetMpState() => Get<KvmMpStateArg>(KVM_GET_MP_STATE, nameof(KVM_GET_MP_STATE)).MpState;

    /// <summary>KVM_SET_MP_STATE.</summary>
    [KvmIoctl("KVM_SET_MP_STATE")]
    public void SetMpState(KvmMpState state) => Set(KVM_SET_MP_STATE, nameof(KVM_SET_MP_STATE), new KvmMpStateArg { MpState = state });

    /// <summary>KVM_GET_VCPU_EVENTS: pending or injected exceptions, interrupts, NMIs and SIPI.</summary>
    [KvmIoctl("KVM_GET_VCPU_EVENTS")]
    public KvmVcpuEvents GetVcpuEvents() => Get<KvmVcpuEvents>(KVM_GET_VCPU_EVENTS, nameof(KVM_GET_VCPU_EVENTS));

    /// <summary>KVM_SET_VCPU_EVENTS.</summary>
    [KvmIoctl("KVM_SET_VCPU_EVENTS")]
    public void SetVcpuEvents(in KvmVcpuEvents events) => Set(KVM_SET_VCPU_EVENTS, nameof(KVM_SET_VCPU_EVENTS), events);

    /// <summary>KVM_GET_DEBUGREGS.</summary>
    [KvmIoctl("KVM_GET_DEBUGREGS")]
    public KvmDebugregs GetDebugRegs() => Get<KvmDebugregs>(KVM_GET_DEBUGREGS, nameof(KVM_GET_DEBUGREGS));

    /// <summary>KVM_SET_DEBUGREGS.</summary>
    [KvmIoctl("KVM_SET_DEBUGREGS")]
    public void SetDebugRegs(in KvmDebugregs regs) => Set(KVM_SET_DEBUGREGS, nameof(KVM_SET_DEBUGREGS), regs);

    /// <summary>KVM_GET_XSAVE.</summary>
    [KvmIoctl("KVM_GET_XSAVE")]
    public KvmXsave GetXsave() => Get<KvmXsave>(KVM_GET_XSAVE, nameof(KVM_GET_XSAVE));

    /// <summary>KVM_SET_XSAVE.</summary>
    [KvmIoctl("KVM_SET_XSAVE")]
    public void SetXsave(in KvmXsave xsave) => Set(KVM_SET_XSAVE, nameof(KVM_SET_XSAVE), xsave);

    /// <summary>KVM_GET_XCRS.</summary>
    [KvmIoctl("KVM_GET_XCRS")]
    public KvmXcrs GetXcrs() => Get<KvmXcrs>(KVM_GET_XCRS, nameof(KVM_GET_XCRS));

    /// <summary>KVM_SET_XCRS.</summary>
    [KvmIoctl("KVM_SET_XCRS")]
    public void SetXcrs(in KvmXcrs xcrs) => Set(KVM_SET_XCRS, nameof(KVM_SET_XCRS), xcrs);

    /// <summary>KVM_SET_GUEST_DEBUG: single-step, breakpoints and what they exit with.</summary>
    [KvmIoctl("KVM_SET_GUEST_DEBUG")]
    public void SetGuestDebug(in KvmGuestDebug debug) => Set(KVM_SET_GUEST_DEBUG, nameof(KVM_SET_GUEST_DEBUG), debug);

    /// <summary>KVM_TRANSLATE: a guest linear address through the vCPU's current paging.</summary>
    [KvmIoctl("KVM_TRANSLATE")]
    public KvmTranslation Translate(ulong linearAddress)
    {
        var translation = new KvmTranslation { LinearAddress = linearAddress };
        Handle.Call(KVM_TRANSLATE, (nint)(&translation), nameof(KVM_TRANSLATE), () => $"linear address 0x{linearAddress:x}");
        return translation;
    }

    /// <summary>KVM_INTERRUPT: queues an external interrupt vector (only without an in-kernel irqchip).</summary>
    [KvmIoctl("KVM_INTERRUPT")]
    public void Interrupt(uint vector)
    {
        var arg = new KvmInterrupt { Irq = vector };
        Handle.Call(KVM_INTERRUPT, (nint)(&arg), nameof(KVM_INTERRUPT), () => $"vector {vector}");
    }

    /// <summary>KVM_NMI: queues a non-maskable interrupt.</summary>
    [KvmIoctl("KVM_NMI")]
    public void Nmi() => Handle.Call(KVM_NMI, 0, nameof(KVM_NMI), () => $"vCPU {Id}");

    /// <summary>KVM_GET_TSC_KHZ.</summary>
    [KvmIoctl("KVM_GET_TSC_KHZ")]
    public int GetTscKhz() => Handle.Call(KVM_GET_TSC_KHZ, 0, nameof(KVM_GET_TSC_KHZ));

    /// <summary>KVM_SET_TSC_KHZ.</summary>
    [KvmIoctl("KVM_SET_TSC_KHZ")]
    public void SetTscKhz(uint khz) => Handle.Call(KVM_SET_TSC_KHZ, (nint)khz, nameof(KVM_SET_TSC_KHZ), () => $"{khz} kHz");

    /// <summary>KVM_KVMCLOCK_CTRL: tells the guest's kvmclock the vCPU was paused.</summary>
    [KvmIoctl("KVM_KVMCLOCK_CTRL")]
    public void KvmclockCtrl() => Handle.Call(KVM_KVMCLOCK_CTRL, 0, nameof(KVM_KVMCLOCK_CTRL), () => $"vCPU {Id}");

    /// <summary>KVM_ENABLE_CAP on the vCPU.</summary>
    [KvmIoctl("KVM_ENABLE_CAP")]
    public void EnableCap(in KvmEnableCap cap)
    {
        var copy = cap;
        var shown = copy;
        Handle.Call(KVM_ENABLE_CAP, (nint)(&copy), nameof(KVM_ENABLE_CAP), () => $"capability {(KvmCap)shown.Cap} on vCPU {Id}");
    }

    /// <summary>KVM_TPR_ACCESS_REPORTING.</summary>
    [KvmIoctl("KVM_TPR_ACCESS_REPORTING")]
    public KvmTprAccessCtl TprAccessReporting(bool enabled)
    {
        var control = new KvmTprAccessCtl { Enabled = enabled ? 1u : 0u };
        Handle.Call(KVM_TPR_ACCESS_REPORTING, (nint)(&control), nameof(KVM_TPR_ACCESS_REPORTING), () => $"vCPU {Id}");
        return control;
    }

    /// <summary>KVM_SET_VAPIC_ADDR.</summary>
    [KvmIoctl("KVM_SET_VAPIC_ADDR")]
    public void SetVapicAddr(ulong address) =>
        Set(KVM_SET_VAPIC_ADDR, nameof(KVM_SET_VAPIC_ADDR), new KvmVapicAddr { VapicAddr = address });

    /// <summary>KVM_X86_SETUP_MCE: the MCG_CAP the guest sees.</summary>
    [KvmIoctl("KVM_X86_SETUP_MCE")]
    public void SetupMce(ulong mcgCap)
    {
        ulong value = mcgCap;
        Handle.Call(KVM_X86_SETUP_MCE, (nint)(&value), nameof(KVM_X86_SETUP_MCE), () => $"MCG_CAP 0x{mcgCap:x}");
    }

    /// <summary>KVM_X86_SET_MCE: injects a machine-check event.</summary>
    [KvmIoctl("KVM_X86_SET_MCE")]
    public void SetMce(in KvmX86Mce mce) => Set(KVM_X86_SET_MCE, nameof(KVM_X86_SET_MCE), mce);

    /// <summary>KVM_SET_SIGNAL_MASK: the signals blocked while inside KVM_RUN; null removes the mask.</summary>
    [KvmIoctl("KVM_SET_SIGNAL_MASK")]
    public void SetSignalMask(ReadOnlySpan<byte> sigset, bool remove = false)
    {
        if (remove)
        {
            Handle.Call(KVM_SET_SIGNAL_MASK, 0, nameof(KVM_SET_SIGNAL_MASK), () => "no mask");
            return;
        }
        CountedArgument.Send<KvmSignalMask, byte>(Handle, KVM_SET_SIGNAL_MASK, sigset, nameof(KVM_SET_SIGNAL_MASK), "bytes of signal set");
    }

    /// <summary>KVM_GET_MSRS: reads as many of <paramref name="entries"/> as the kernel knows, in order; returns that count.</summary>
    [KvmIoctl("KVM_GET_MSRS")]
    public int GetMsrs(Span<KvmMsrEntry> entries) => MsrCall(Handle, KVM_GET_MSRS, nameof(KVM_GET_MSRS), entries);

    /// <summary>KVM_SET_MSRS: writes entries in order until one is refused; returns how many were written.</summary>
    [KvmIoctl("KVM_SET_MSRS")]
    public int SetMsrs(ReadOnlySpan<KvmMsrEntry> entries)
    {
        return MsrCall(Handle, KVM_SET_MSRS, nameof(KVM_SET_MSRS), entries.ToArray());
    }

    internal static int MsrCall(KvmHandle handle, ulong request, string name, Span<KvmMsrEntry> entries)
    {
        int count = entries.Length;
        return KvmHandle.Check(CountedArgument.Exchange<KvmMsrs, KvmMsrEntry>(handle, request, entries, out _), name, () => $"{count} MSR entries");
    }

    /// <summary>KVM_SET_CPUID2: the CPUID the guest sees.</summary>
    [KvmIoctl("KVM_SET_CPUID2")]
    public void SetCpuid2(ReadOnlySpan<KvmCpuidEntry2> entries) =>
        CountedArgument.Send<KvmCpuid2, KvmCpuidEntry2>(Handle, KVM_SET_CPUID2, entries, nameof(KVM_SET_CPUID2), "CPUID entries");

    /// <summary>KVM_GET_CPUID2: the CPUID set on this vCPU; returns the count written into <paramref name="entries"/>.</summary>
    [KvmIoctl("KVM_GET_CPUID2")]
    public int GetCpuid2(Span<KvmCpuidEntry2> entries) =>
        Kvm.CpuidCall(Handle, KVM_GET_CPUID2, nameof(KVM_GET_CPUID2), entries, throwOnTooBig: true);

    /// <summary>KVM_SET_CPUID: the original form with struct kvm_cpuid_entry.</summary>
    [KvmIoctl("KVM_SET_CPUID")]
    public void SetCpuid(ReadOnlySpan<KvmCpuidEntry> entries) =>
        CountedArgument.Send<KvmCpuid, KvmCpuidEntry>(Handle, KVM_SET_CPUID, entries, nameof(KVM_SET_CPUID), "CPUID entries");
}
