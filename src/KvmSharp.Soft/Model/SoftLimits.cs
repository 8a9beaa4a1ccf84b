namespace KvmSharp.Soft.Model;

/// <summary>Soft's fixed limits, reported through KVM_CHECK_EXTENSION and enforced by the ioctls.</summary>
internal static class SoftLimits
{
    public const int PageSize = 4096;
    public const int PageShift = 12;

    /// <summary>User memory slots per address space (KVM_CAP_NR_MEMSLOTS); the same as x86 KVM.</summary>
    public const int MemorySlots = 32764;

    /// <summary>KVM_CAP_MAX_VCPUS and KVM_CAP_MAX_VCPU_ID.</summary>
    public const int MaxVcpus = 1024;

    /// <summary>The largest slot KVM accepts, in pages (KVM_MEM_MAX_NR_PAGES).</summary>
    public const ulong MaxSlotPages = (1UL << 31) - 1;

    /// <summary>Highest user address on x86-64 Linux (TASK_SIZE_MAX): slots must lie below it.</summary>
    public const ulong UserAddressLimit = 0x7FFF_FFFF_F000;

    /// <summary>KVM_MAX_CPUID_ENTRIES of current x86 KVM.</summary>
    public const int MaxCpuidEntries = 256;

    /// <summary>The vCPU mapping: kvm_run, then the page of port-I/O data, then the (unused) coalesced-MMIO ring, as in KVM.</summary>
    public const int VcpuMmapPages = 3;
    public const int PioDataOffset = PageSize;
}
