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
    };

    public static int Check(KvmCap capability) => s_values.GetValueOrDefault(capability);
}
