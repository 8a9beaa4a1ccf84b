using KvmSharp.Abi;

namespace KvmSharp.Soft.Model;

/// <summary>
/// What KVM_CHECK_EXTENSION answers on Soft: only what Soft really implements.
/// A capability absent from this table is 0.
/// </summary>
internal static class SoftCapabilities
{
    private static readonly Dictionary<KvmCap, int> s_values = new()
    {
        [KvmCap.UserMemory] = 1,
        [KvmCap.DestroyMemoryRegionWorks] = 1,
        [KvmCap.JoinMemoryRegionsWorks] = 1,
        [KvmCap.ReadonlyMem] = 1,
        [KvmCap.SyncMmu] = 1, // Guest RAM is always read through the caller's mapping.
        [KvmCap.NrMemslots] = SoftLimits.MemorySlots,
        [KvmCap.NrVcpus] = Environment.ProcessorCount,
        [KvmCap.MaxVcpus] = SoftLimits.MaxVcpus,
        [KvmCap.MaxVcpuId] = SoftLimits.MaxVcpus,
        [KvmCap.SetTssAddr] = 1,
        [KvmCap.Hlt] = 1,
        [KvmCap.ExtCpuid] = 1,
        [KvmCap.MpState] = 1,
        [KvmCap.UserNmi] = 1,
        [KvmCap.SetGuestDebug] = 1,
        [KvmCap.VcpuEvents] = 1,
        [KvmCap.Debugregs] = 1,
        [KvmCap.ImmediateExit] = 1,
        [KvmCap.GetTscKhz] = 1,
        [KvmCap.TscControl] = 1,
        [KvmCap.X86RobustSinglestep] = 1,
        // The in-kernel platform (Platform/): PICs, IOAPIC, local APICs, PIT, routing.
        [KvmCap.Irqchip] = 1,
        [KvmCap.IrqInjectStatus] = 1,
        [KvmCap.IrqRouting] = Platform.GsiRouter.MaxRoutes,
        [KvmCap.SignalMsi] = 1,
        [KvmCap.Pit] = 1,
        [KvmCap.Pit2] = 1,
        [KvmCap.PitState2] = 1,
        [KvmCap.ReinjectControl] = 1,
        [KvmCap.SetBootCpuId] = 1,
        [KvmCap.Irqfd] = 1,
        [KvmCap.Ioeventfd] = 1,
        [KvmCap.IoeventfdAnyLength] = 1,
        [KvmCap.AdjustClock] = (int)Abi.KvmConstants.KVM_CLOCK_TSC_STABLE,
        // kvmclock's pvclock page and KVM_KVMCLOCK_CTRL (Vcpu/SoftVcpu.Kvmclock.cs).
        [KvmCap.KvmclockCtrl] = 1,
        // KVM_XEN_HVM_CONFIG_HYPERCALL_MSR: the hypercall-page MSR only, none of the later Xen features.
        [KvmCap.XenHvm] = 1,
    };

    public static int Check(KvmCap capability) => s_values.GetValueOrDefault(capability);
}
