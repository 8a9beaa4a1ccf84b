namespace KvmSharp.Abi;

// Flags and sizes of the x86 ioctl arguments (asm/kvm.h and the x86 parts of linux/kvm.h).
public static partial class KvmConstants
{
    public const uint KVM_GUESTDBG_BLOCKIRQ = 0x00100000;

    // Where the coalesced-MMIO ring and the dirty ring sit in the vCPU mapping, in pages.
    public const int KVM_COALESCED_MMIO_PAGE_OFFSET = 2;
    public const int KVM_DIRTY_LOG_PAGE_OFFSET = 64;

    public const ulong KVM_SREGS2_FLAGS_PDPTRS_VALID = 1;

    // struct kvm_msr_filter.
    public const int KVM_MSR_FILTER_MAX_BITMAP_SIZE = 0x600;
    public const int KVM_MSR_FILTER_MAX_RANGES = 16;
    public const uint KVM_MSR_FILTER_READ = 1 << 0;
    public const uint KVM_MSR_FILTER_WRITE = 1 << 1;
    public const uint KVM_MSR_FILTER_DEFAULT_ALLOW = 0;
    public const uint KVM_MSR_FILTER_DEFAULT_DENY = 1 << 0;

    // struct kvm_pmu_event_filter.action.
    public const uint KVM_PMU_EVENT_ALLOW = 0;
    public const uint KVM_PMU_EVENT_DENY = 1;

    // KVM_CAP_DISABLE_QUIRKS(2) bits.
    public const ulong KVM_X86_QUIRK_LINT0_REENABLED = 1 << 0;
    public const ulong KVM_X86_QUIRK_CD_NW_CLEARED = 1 << 1;
    public const ulong KVM_X86_QUIRK_LAPIC_MMIO_HOLE = 1 << 2;
    public const ulong KVM_X86_QUIRK_OUT_7E_INC_RIP = 1 << 3;
    public const ulong KVM_X86_QUIRK_MISC_ENABLE_NO_MWAIT = 1 << 4;
    public const ulong KVM_X86_QUIRK_FIX_HYPERCALL_INSN = 1 << 5;
    public const ulong KVM_X86_QUIRK_MWAIT_NEVER_UD_FAULTS = 1 << 6;

    // struct kvm_nested_state.
    public const ushort KVM_STATE_NESTED_FORMAT_VMX = 0;
    public const ushort KVM_STATE_NESTED_FORMAT_SVM = 1;
    public const ushort KVM_STATE_NESTED_GUEST_MODE = 0x0001;
    public const ushort KVM_STATE_NESTED_RUN_PENDING = 0x0002;
    public const ushort KVM_STATE_NESTED_EVMCS = 0x0004;
    public const ushort KVM_STATE_NESTED_MTF_PENDING = 0x0008;
    public const ushort KVM_STATE_NESTED_GIF_SET = 0x0100;
    public const ushort KVM_STATE_NESTED_SMM_GUEST_MODE = 0x0001;
    public const ushort KVM_STATE_NESTED_SMM_VMXON = 0x0002;
    public const int KVM_STATE_NESTED_VMX_VMCS_SIZE = 0x1000;
    public const int KVM_STATE_NESTED_SVM_VMCB_SIZE = 0x1000;
    public const uint KVM_STATE_VMX_PREEMPTION_TIMER_DEADLINE = 0x0001;

    // KVM_CAP_X86_DISABLE_EXITS arguments.
    public const ulong KVM_X86_DISABLE_EXITS_MWAIT = 1 << 0;
    public const ulong KVM_X86_DISABLE_EXITS_HLT = 1 << 1;
    public const ulong KVM_X86_DISABLE_EXITS_PAUSE = 1 << 2;
    public const ulong KVM_X86_DISABLE_EXITS_CSTATE = 1 << 3;

    // KVM_CAP_X2APIC_API arguments.
    public const ulong KVM_X2APIC_API_USE_32BIT_IDS = 1UL << 0;
    public const ulong KVM_X2APIC_API_DISABLE_BROADCAST_QUIRK = 1UL << 1;

    // KVM_CAP_X86_BUS_LOCK_EXIT arguments.
    public const ulong KVM_BUS_LOCK_DETECTION_OFF = 1 << 0;
    public const ulong KVM_BUS_LOCK_DETECTION_EXIT = 1 << 1;

    // KVM_CAP_PMU_CAPABILITY arguments.
    public const ulong KVM_PMU_CAP_DISABLE = 1 << 0;

    // KVM_CAP_X86_NOTIFY_VMEXIT arguments.
    public const ulong KVM_X86_NOTIFY_VMEXIT_ENABLED = 1UL << 0;
    public const ulong KVM_X86_NOTIFY_VMEXIT_USER = 1UL << 1;

    // KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 arguments.
    public const ulong KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE = 1 << 0;
    public const ulong KVM_DIRTY_LOG_INITIALLY_SET = 1 << 1;

    // struct kvm_dirty_gfn.flags.
    public const uint KVM_DIRTY_GFN_F_DIRTY = 1 << 0;
    public const uint KVM_DIRTY_GFN_F_RESET = 1 << 1;
    public const uint KVM_DIRTY_GFN_F_MASK = 0x3;

    // struct kvm_hyperv_eventfd.
    public const uint KVM_HYPERV_CONN_ID_MASK = 0x00ffffff;
    public const uint KVM_HYPERV_EVENTFD_DEASSIGN = 1 << 0;

    // struct kvm_create_device.flags.
    public const uint KVM_CREATE_DEVICE_TEST = 1;

    // struct kvm_ppc_smmu_info / kvm_ppc_one_seg_page_size.
    public const int KVM_PPC_PAGE_SIZES_MAX_SZ = 8;
}
