namespace KvmSharp.Abi;

// Values found inside kvm_run exit payloads.
public static partial class KvmConstants
{
    // kvm_run.flags (x86).
    public const ushort KVM_RUN_X86_SMM = 1 << 0;
    public const ushort KVM_RUN_X86_BUS_LOCK = 1 << 1;

    // kvm_run.kvm_valid_regs / kvm_dirty_regs (x86).
    public const ulong KVM_SYNC_X86_REGS = 1UL << 0;
    public const ulong KVM_SYNC_X86_SREGS = 1UL << 1;
    public const ulong KVM_SYNC_X86_EVENTS = 1UL << 2;
    public const ulong KVM_SYNC_X86_VALID_FIELDS = KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS | KVM_SYNC_X86_EVENTS;

    // kvm_hyperv_exit.type.
    public const uint KVM_EXIT_HYPERV_SYNIC = 1;
    public const uint KVM_EXIT_HYPERV_HCALL = 2;
    public const uint KVM_EXIT_HYPERV_SYNDBG = 3;

    // kvm_xen_exit.type.
    public const uint KVM_EXIT_XEN_HCALL = 1;

    // kvm_run.s390_reset_flags.
    public const ulong KVM_S390_RESET_POR = 1;
    public const ulong KVM_S390_RESET_CLEAR = 2;
    public const ulong KVM_S390_RESET_SUBSYSTEM = 4;
    public const ulong KVM_S390_RESET_CPU_INIT = 8;
    public const ulong KVM_S390_RESET_IPL = 16;

    // kvm_run.emulation_failure.flags.
    public const ulong KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES = 1UL << 0;

    // kvm_run.system_event.type, beyond the first three.
    public const uint KVM_SYSTEM_EVENT_WAKEUP = 4;
    public const uint KVM_SYSTEM_EVENT_SUSPEND = 5;
    public const uint KVM_SYSTEM_EVENT_SEV_TERM = 6;

    // kvm_run.msr.reason.
    public const uint KVM_MSR_EXIT_REASON_INVAL = 1 << 0;
    public const uint KVM_MSR_EXIT_REASON_UNKNOWN = 1 << 1;
    public const uint KVM_MSR_EXIT_REASON_FILTER = 1 << 2;

    // kvm_run.notify.flags.
    public const uint KVM_NOTIFY_CONTEXT_INVALID = 1 << 0;
}
