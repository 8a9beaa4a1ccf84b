namespace KvmSharp.Abi;

/// <summary>Plain numeric facts of linux/kvm.h and asm/kvm.h (x86-64).</summary>
public static partial class KvmConstants
{
    public const int KVM_API_VERSION = 12;
    public const int KVM_NR_INTERRUPTS = 256;
    public const int KVM_MAX_XCRS = 16;
    public const int KVM_APIC_REG_SIZE = 0x400;
    public const int KVM_IOAPIC_NUM_PINS = 24;
    /// <summary>The kernel's cap on kvm_cpuid2.nent (E2BIG beyond it).</summary>
    [NoCCounterpart("kernel-internal limit from arch/x86/include/asm/kvm_host.h, not in the UAPI headers; Soft enforces it as KVM does")]
    public const int KVM_MAX_CPUID_ENTRIES = 256;
    public const int KVM_NR_IRQCHIPS = 3;
    [CName("KVM_EXIT_IO_IN")] public const int KVM_RUN_IO_DIRECTION_IN = 0;
    [CName("KVM_EXIT_IO_OUT")] public const int KVM_RUN_IO_DIRECTION_OUT = 1;
    public const int SYNC_REGS_SIZE_BYTES = 2048;
    public const int KVM_PIT_SPEAKER_DUMMY = 1;
    public const int KVM_PIT_FLAGS_HPET_LEGACY = 0x00000001;
    public const int KVM_PIT_FLAGS_SPEAKER_DATA_ON = 0x00000002;

    // Identifiers of the three irqchips in struct kvm_irqchip.
    public const int KVM_IRQCHIP_PIC_MASTER = 0;
    public const int KVM_IRQCHIP_PIC_SLAVE = 1;
    public const int KVM_IRQCHIP_IOAPIC = 2;

    // struct kvm_guest_debug control bits.
    public const uint KVM_GUESTDBG_ENABLE = 0x00000001;
    public const uint KVM_GUESTDBG_SINGLESTEP = 0x00000002;
    public const uint KVM_GUESTDBG_USE_SW_BP = 0x00010000;
    public const uint KVM_GUESTDBG_USE_HW_BP = 0x00020000;
    public const uint KVM_GUESTDBG_INJECT_DB = 0x00040000;
    public const uint KVM_GUESTDBG_INJECT_BP = 0x00080000;

    // struct kvm_vcpu_events flags.
    public const uint KVM_VCPUEVENT_VALID_NMI_PENDING = 0x00000001;
    public const uint KVM_VCPUEVENT_VALID_SIPI_VECTOR = 0x00000002;
    public const uint KVM_VCPUEVENT_VALID_SHADOW = 0x00000004;
    public const uint KVM_VCPUEVENT_VALID_SMM = 0x00000008;
    public const uint KVM_VCPUEVENT_VALID_PAYLOAD = 0x00000010;
    public const uint KVM_VCPUEVENT_VALID_TRIPLE_FAULT = 0x00000020;

    public const uint KVM_X86_SHADOW_INT_MOV_SS = 0x01;
    public const uint KVM_X86_SHADOW_INT_STI = 0x02;

    // struct kvm_cpuid_entry2 flags.
    public const uint KVM_CPUID_FLAG_SIGNIFCANT_INDEX = 1 << 0;
    public const uint KVM_CPUID_FLAG_STATEFUL_FUNC = 1 << 1;
    public const uint KVM_CPUID_FLAG_STATE_READ_NEXT = 1 << 2;

    // struct kvm_irqfd flags.
    public const uint KVM_IRQFD_FLAG_DEASSIGN = 1 << 0;
    public const uint KVM_IRQFD_FLAG_RESAMPLE = 1 << 1;

    // struct kvm_ioeventfd flags.
    public const uint KVM_IOEVENTFD_FLAG_DATAMATCH = 1 << 0;
    public const uint KVM_IOEVENTFD_FLAG_PIO = 1 << 1;
    public const uint KVM_IOEVENTFD_FLAG_DEASSIGN = 1 << 2;
    public const uint KVM_IOEVENTFD_FLAG_VIRTIO_CCW_NOTIFY = 1 << 3;

    // Routing entry types and flags.
    public const uint KVM_IRQ_ROUTING_IRQCHIP = 1;
    public const uint KVM_IRQ_ROUTING_MSI = 2;
    public const uint KVM_IRQ_ROUTING_S390_ADAPTER = 3;
    public const uint KVM_IRQ_ROUTING_HV_SINT = 4;
    public const uint KVM_IRQ_ROUTING_XEN_EVTCHN = 5;
    public const uint KVM_MSI_VALID_DEVID = 1 << 0;

    // Internal-error suberrors.
    public const uint KVM_INTERNAL_ERROR_EMULATION = 1;
    public const uint KVM_INTERNAL_ERROR_SIMUL_EX = 2;
    public const uint KVM_INTERNAL_ERROR_DELIVERY_EV = 3;
    public const uint KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON = 4;

    // System-event types.
    public const uint KVM_SYSTEM_EVENT_SHUTDOWN = 1;
    public const uint KVM_SYSTEM_EVENT_RESET = 2;
    public const uint KVM_SYSTEM_EVENT_CRASH = 3;

    // kvm_clock_data flags.
    public const uint KVM_CLOCK_TSC_STABLE = 2;
    public const uint KVM_CLOCK_REALTIME = 1 << 2;
    public const uint KVM_CLOCK_HOST_TSC = 1 << 3;
}

/// <summary>Flags of struct kvm_userspace_memory_region.</summary>
[Flags]
public enum KvmMemoryFlags : uint
{
    [NoCCounterpart("the empty flag set, so callers need not write (KvmMemoryFlags)0")] None = 0,
    [CName("KVM_MEM_LOG_DIRTY_PAGES")] LogDirtyPages = 1 << 0,
    [CName("KVM_MEM_READONLY")] ReadOnly = 1 << 1,
}

/// <summary>struct kvm_mp_state values.</summary>
public enum KvmMpState : uint
{
    [CName("KVM_MP_STATE_RUNNABLE")] Runnable = 0,
    [CName("KVM_MP_STATE_UNINITIALIZED")] Uninitialized = 1,
    [CName("KVM_MP_STATE_INIT_RECEIVED")] InitReceived = 2,
    [CName("KVM_MP_STATE_HALTED")] Halted = 3,
    [CName("KVM_MP_STATE_SIPI_RECEIVED")] SipiReceived = 4,
    [CName("KVM_MP_STATE_STOPPED")] Stopped = 5,
    [CName("KVM_MP_STATE_CHECK_STOP")] CheckStop = 6,
    [CName("KVM_MP_STATE_OPERATING")] Operating = 7,
    [CName("KVM_MP_STATE_LOAD")] Load = 8,
    [CName("KVM_MP_STATE_AP_RESET_HOLD")] ApResetHold = 9,
    [CName("KVM_MP_STATE_SUSPENDED")] Suspended = 10,
}
