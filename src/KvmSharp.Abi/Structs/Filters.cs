using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace KvmSharp.Abi;

/// <summary>struct kvm_msr_filter_range: one bitmap of allowed MSRs; <see cref="Bitmap"/> is a user pointer.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct KvmMsrFilterRange
{
    public uint Flags;
    public uint Nmsrs;
    public uint Base;
    public ulong Bitmap;
}

[InlineArray(KvmConstants.KVM_MSR_FILTER_MAX_RANGES)]
public struct KvmMsrFilterRanges
{
    private KvmMsrFilterRange _first;
}

/// <summary>struct kvm_msr_filter (KVM_X86_SET_MSR_FILTER).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct KvmMsrFilter
{
    public uint Flags;
    public KvmMsrFilterRanges Ranges;
}

/// <summary>struct kvm_pmu_event_filter (KVM_SET_PMU_EVENT_FILTER): header; <see cref="Nevents"/> u64 events follow.</summary>
[CTrailingArray("events", typeof(ulong))]
[StructLayout(LayoutKind.Sequential)]
public unsafe struct KvmPmuEventFilter
{
    public uint Action;
    public uint Nevents;
    public uint FixedCounterBitmap;
    public uint Flags;
    public fixed uint Pad[4];
}
