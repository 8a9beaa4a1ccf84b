namespace KvmSharp.Abi;

/// <summary>
/// The request numbers of the KVM ioctls, encoded as asm-generic/ioctl.h does
/// (direction, argument size, type 0xAE, number), with each argument size taken
/// from the Abi struct itself so a layout mistake shows up as a wrong request.
/// </summary>
public static unsafe partial class KvmIoctls
{
    public const uint KVMIO = 0xAE;

    private const int NrBits = 8, TypeBits = 8, SizeBits = 14;
    private const int TypeShift = NrBits, SizeShift = TypeShift + TypeBits, DirShift = SizeShift + SizeBits;
    private const uint DirNone = 0, DirWrite = 1, DirRead = 2;

    private static ulong Encode(uint dir, uint nr, int size) =>
        (dir << DirShift) | ((uint)size << SizeShift) | (KVMIO << TypeShift) | nr;

    /// <summary>_IO(KVMIO, nr).</summary>
    public static ulong Io(uint nr) => Encode(DirNone, nr, 0);
    /// <summary>_IOR(KVMIO, nr, type): the kernel writes the argument.</summary>
    public static ulong IoR(uint nr, int size) => Encode(DirRead, nr, size);
    /// <summary>_IOW(KVMIO, nr, type): the kernel reads the argument.</summary>
    public static ulong IoW(uint nr, int size) => Encode(DirWrite, nr, size);
    /// <summary>_IOWR(KVMIO, nr, type).</summary>
    public static ulong IoWR(uint nr, int size) => Encode(DirRead | DirWrite, nr, size);

    public static readonly ulong KVM_SET_USER_MEMORY_REGION = IoW(0x46, sizeof(KvmUserspaceMemoryRegion));
    public static readonly ulong KVM_REGISTER_COALESCED_MMIO = IoW(0x67, sizeof(KvmCoalescedMmioZone));
    public static readonly ulong KVM_UNREGISTER_COALESCED_MMIO = IoW(0x68, sizeof(KvmCoalescedMmioZone));
    public static readonly ulong KVM_GET_API_VERSION = Io(0x00);
    public static readonly ulong KVM_CREATE_VM = Io(0x01);
    public static readonly ulong KVM_GET_MSR_INDEX_LIST = IoWR(0x02, sizeof(KvmMsrList));
    public static readonly ulong KVM_S390_ENABLE_SIE = Io(0x06);
    public static readonly ulong KVM_CHECK_EXTENSION = Io(0x03);
    public static readonly ulong KVM_GET_VCPU_MMAP_SIZE = Io(0x04);
    public static readonly ulong KVM_GET_SUPPORTED_CPUID = IoWR(0x05, sizeof(KvmCpuid2));
    public static readonly ulong KVM_GET_EMULATED_CPUID = IoWR(0x09, sizeof(KvmCpuid2));
    public static readonly ulong KVM_GET_MSR_FEATURE_INDEX_LIST = IoWR(0x0a, sizeof(KvmMsrList));
    /// <summary>Removed (the KVM API document, 4.6: "obsolete and has been removed"); the header still defines it.</summary>
    public static readonly ulong KVM_SET_MEMORY_REGION = IoW(0x40, sizeof(KvmMemoryRegion));
    public static readonly ulong KVM_CREATE_VCPU = Io(0x41);
    public static readonly ulong KVM_GET_DIRTY_LOG = IoW(0x42, sizeof(KvmDirtyLog));
    public static readonly ulong KVM_SET_NR_MMU_PAGES = Io(0x44);
    public static readonly ulong KVM_GET_NR_MMU_PAGES = Io(0x45);
    public static readonly ulong KVM_SET_TSS_ADDR = Io(0x47);
    public static readonly ulong KVM_SET_IDENTITY_MAP_ADDR = IoW(0x48, sizeof(ulong));
    public static readonly ulong KVM_S390_VCPU_FAULT = IoW(0x52, sizeof(ulong));
    public static readonly ulong KVM_CREATE_IRQCHIP = Io(0x60);
    public static readonly ulong KVM_IRQ_LINE = IoW(0x61, sizeof(KvmIrqLevel));
    public static readonly ulong KVM_GET_IRQCHIP = IoWR(0x62, sizeof(KvmIrqchip));
    public static readonly ulong KVM_SET_IRQCHIP = IoR(0x63, sizeof(KvmIrqchip));
    public static readonly ulong KVM_CREATE_PIT = Io(0x64);
    public static readonly ulong KVM_GET_PIT = IoWR(0x65, sizeof(KvmPitState));
    public static readonly ulong KVM_SET_PIT = IoR(0x66, sizeof(KvmPitState));
    public static readonly ulong KVM_IRQ_LINE_STATUS = IoWR(0x67, sizeof(KvmIrqLevel));
    public static readonly ulong KVM_SET_GSI_ROUTING = IoW(0x6a, sizeof(KvmIrqRouting));
    public static readonly ulong KVM_REINJECT_CONTROL = Io(0x71);
    public static readonly ulong KVM_IRQFD = IoW(0x76, sizeof(KvmIrqfd));
    public static readonly ulong KVM_CREATE_PIT2 = IoW(0x77, sizeof(KvmPitConfig));
    public static readonly ulong KVM_SET_BOOT_CPU_ID = Io(0x78);
    public static readonly ulong KVM_IOEVENTFD = IoW(0x79, sizeof(KvmIoeventfd));
    public static readonly ulong KVM_XEN_HVM_CONFIG = IoW(0x7a, sizeof(KvmXenHvmConfig));
    public static readonly ulong KVM_SET_CLOCK = IoW(0x7b, sizeof(KvmClockData));
    public static readonly ulong KVM_GET_CLOCK = IoR(0x7c, sizeof(KvmClockData));
    public static readonly ulong KVM_GET_PIT2 = IoR(0x9f, sizeof(KvmPitState2));
    public static readonly ulong KVM_SET_PIT2 = IoW(0xa0, sizeof(KvmPitState2));
    public static readonly ulong KVM_SET_TSC_KHZ = Io(0xa2);
    public static readonly ulong KVM_GET_TSC_KHZ = Io(0xa3);
    public static readonly ulong KVM_SIGNAL_MSI = IoW(0xa5, sizeof(KvmMsi));
    public static readonly ulong KVM_PPC_ALLOCATE_HTAB = IoWR(0xa7, sizeof(uint));
    public static readonly ulong KVM_PPC_SVM_OFF = Io(0xb3);
    public static readonly ulong KVM_RUN = Io(0x80);
    public static readonly ulong KVM_GET_REGS = IoR(0x81, sizeof(KvmRegs));
    public static readonly ulong KVM_SET_REGS = IoW(0x82, sizeof(KvmRegs));
    public static readonly ulong KVM_GET_SREGS = IoR(0x83, sizeof(KvmSregs));
    public static readonly ulong KVM_SET_SREGS = IoW(0x84, sizeof(KvmSregs));
    public static readonly ulong KVM_TRANSLATE = IoWR(0x85, sizeof(KvmTranslation));
    public static readonly ulong KVM_INTERRUPT = IoW(0x86, sizeof(KvmInterrupt));
    public static readonly ulong KVM_GET_MSRS = IoWR(0x88, sizeof(KvmMsrs));
    public static readonly ulong KVM_SET_MSRS = IoW(0x89, sizeof(KvmMsrs));
    public static readonly ulong KVM_SET_CPUID = IoW(0x8a, sizeof(KvmCpuid));
    public static readonly ulong KVM_SET_SIGNAL_MASK = IoW(0x8b, sizeof(KvmSignalMask));
    public static readonly ulong KVM_GET_FPU = IoR(0x8c, sizeof(KvmFpu));
    public static readonly ulong KVM_SET_FPU = IoW(0x8d, sizeof(KvmFpu));
    public static readonly ulong KVM_GET_LAPIC = IoR(0x8e, sizeof(KvmLapicState));
    public static readonly ulong KVM_SET_LAPIC = IoW(0x8f, sizeof(KvmLapicState));
    public static readonly ulong KVM_SET_CPUID2 = IoW(0x90, sizeof(KvmCpuid2));
    public static readonly ulong KVM_GET_CPUID2 = IoWR(0x91, sizeof(KvmCpuid2));
    public static readonly ulong KVM_TPR_ACCESS_REPORTING = IoWR(0x92, sizeof(KvmTprAccessCtl));
    public static readonly ulong KVM_SET_VAPIC_ADDR = IoW(0x93, sizeof(KvmVapicAddr));
    public static readonly ulong KVM_S390_STORE_STATUS = IoW(0x95, sizeof(ulong));
    public static readonly ulong KVM_S390_INITIAL_RESET = Io(0x97);
    public static readonly ulong KVM_GET_MP_STATE = IoR(0x98, sizeof(KvmMpStateArg));
    public static readonly ulong KVM_SET_MP_STATE = IoW(0x99, sizeof(KvmMpStateArg));
    public static readonly ulong KVM_NMI = Io(0x9a);
    public static readonly ulong KVM_SET_GUEST_DEBUG = IoW(0x9b, sizeof(KvmGuestDebug));
    public static readonly ulong KVM_X86_SETUP_MCE = IoW(0x9c, sizeof(ulong));
    public static readonly ulong KVM_X86_GET_MCE_CAP_SUPPORTED = IoR(0x9d, sizeof(ulong));
    public static readonly ulong KVM_X86_SET_MCE = IoW(0x9e, sizeof(KvmX86Mce));
    public static readonly ulong KVM_GET_VCPU_EVENTS = IoR(0x9f, sizeof(KvmVcpuEvents));
    public static readonly ulong KVM_SET_VCPU_EVENTS = IoW(0xa0, sizeof(KvmVcpuEvents));
    public static readonly ulong KVM_GET_DEBUGREGS = IoR(0xa1, sizeof(KvmDebugregs));
    public static readonly ulong KVM_SET_DEBUGREGS = IoW(0xa2, sizeof(KvmDebugregs));
    public static readonly ulong KVM_ENABLE_CAP = IoW(0xa3, sizeof(KvmEnableCap));
    public static readonly ulong KVM_GET_XSAVE = IoR(0xa4, sizeof(KvmXsave));
    public static readonly ulong KVM_SET_XSAVE = IoW(0xa5, sizeof(KvmXsave));
    public static readonly ulong KVM_GET_XCRS = IoR(0xa6, sizeof(KvmXcrs));
    public static readonly ulong KVM_SET_XCRS = IoW(0xa7, sizeof(KvmXcrs));
    public static readonly ulong KVM_GET_ONE_REG = IoW(0xab, sizeof(KvmOneReg));
    public static readonly ulong KVM_SET_ONE_REG = IoW(0xac, sizeof(KvmOneReg));
    public static readonly ulong KVM_KVMCLOCK_CTRL = Io(0xad);
    public static readonly ulong KVM_GET_REG_LIST = IoWR(0xb0, sizeof(KvmRegList));
    public static readonly ulong KVM_SMI = Io(0xb7);
    public static readonly ulong KVM_MEMORY_ENCRYPT_OP = IoWR(0xba, sizeof(ulong));
    public static readonly ulong KVM_CLEAR_DIRTY_LOG = IoWR(0xc0, sizeof(KvmClearDirtyLog));
    public static readonly ulong KVM_GET_SUPPORTED_HV_CPUID = IoWR(0xc1, sizeof(KvmCpuid2));
    public static readonly ulong KVM_ARM_VCPU_FINALIZE = IoW(0xc2, sizeof(int));
    public static readonly ulong KVM_S390_NORMAL_RESET = Io(0xc3);
    public static readonly ulong KVM_S390_CLEAR_RESET = Io(0xc4);
    public static readonly ulong KVM_RESET_DIRTY_RINGS = Io(0xc7);
    public static readonly ulong KVM_GET_STATS_FD = Io(0xce);
    public static readonly ulong KVM_GET_XSAVE2 = IoR(0xcf, sizeof(KvmXsave));

    // VM ioctls of other architectures, and of device models (linux/kvm.h).
    public static readonly ulong KVM_S390_UCAS_MAP = IoW(0x50, sizeof(KvmS390UcasMapping));
    public static readonly ulong KVM_S390_UCAS_UNMAP = IoW(0x51, sizeof(KvmS390UcasMapping));
    public static readonly ulong KVM_PPC_GET_PVINFO = IoW(0xa1, sizeof(KvmPpcPvinfo));
    public static readonly ulong KVM_PPC_GET_SMMU_INFO = IoR(0xa6, sizeof(KvmPpcSmmuInfo));
    public static readonly ulong KVM_CREATE_SPAPR_TCE = IoW(0xa8, sizeof(KvmCreateSpaprTce));
    public static readonly ulong KVM_CREATE_SPAPR_TCE_64 = IoW(0xa8, sizeof(KvmCreateSpaprTce64));
    public static readonly ulong KVM_ALLOCATE_RMA = IoR(0xa9, sizeof(KvmAllocateRma));
    public static readonly ulong KVM_PPC_GET_HTAB_FD = IoW(0xaa, sizeof(KvmGetHtabFd));
    public static readonly ulong KVM_ARM_SET_DEVICE_ADDR = IoW(0xab, sizeof(KvmArmDeviceAddr));
    public static readonly ulong KVM_PPC_RTAS_DEFINE_TOKEN = IoW(0xac, sizeof(KvmRtasTokenArgs));
    public static readonly ulong KVM_PPC_RESIZE_HPT_PREPARE = IoR(0xad, sizeof(KvmPpcResizeHpt));
    public static readonly ulong KVM_PPC_RESIZE_HPT_COMMIT = IoR(0xae, sizeof(KvmPpcResizeHpt));
    public static readonly ulong KVM_PPC_CONFIGURE_V3_MMU = IoW(0xaf, sizeof(KvmPpcMmuv3Cfg));
    public static readonly ulong KVM_PPC_GET_RMMU_INFO = IoW(0xb0, sizeof(KvmPpcRmmuInfo));
    public static readonly ulong KVM_PPC_GET_CPU_CHAR = IoR(0xb1, sizeof(KvmPpcCpuChar));
    public static readonly ulong KVM_SET_PMU_EVENT_FILTER = IoW(0xb2, sizeof(KvmPmuEventFilter));
    public static readonly ulong KVM_ARM_MTE_COPY_TAGS = IoR(0xb4, sizeof(KvmArmCopyMteTags));
    public static readonly ulong KVM_CREATE_DEVICE = IoWR(0xe0, sizeof(KvmCreateDevice));
    public static readonly ulong KVM_SET_DEVICE_ATTR = IoW(0xe1, sizeof(KvmDeviceAttr));
    public static readonly ulong KVM_GET_DEVICE_ATTR = IoW(0xe2, sizeof(KvmDeviceAttr));
    public static readonly ulong KVM_HAS_DEVICE_ATTR = IoW(0xe3, sizeof(KvmDeviceAttr));
    public static readonly ulong KVM_MEMORY_ENCRYPT_REG_REGION = IoR(0xbb, sizeof(KvmEncRegion));
    public static readonly ulong KVM_MEMORY_ENCRYPT_UNREG_REGION = IoR(0xbc, sizeof(KvmEncRegion));
    public static readonly ulong KVM_HYPERV_EVENTFD = IoW(0xbd, sizeof(KvmHypervEventfd));
    public static readonly ulong KVM_S390_PV_COMMAND = IoWR(0xc5, sizeof(KvmPvCmd));
    public static readonly ulong KVM_X86_SET_MSR_FILTER = IoW(0xc6, sizeof(KvmMsrFilter));
    public static readonly ulong KVM_XEN_HVM_GET_ATTR = IoWR(0xc8, sizeof(KvmXenHvmAttr));
    public static readonly ulong KVM_XEN_HVM_SET_ATTR = IoW(0xc9, sizeof(KvmXenHvmAttr));
    public static readonly ulong KVM_XEN_HVM_EVTCHN_SEND = IoW(0xd0, sizeof(KvmIrqRoutingXenEvtchn));
    public static readonly ulong KVM_S390_ZPCI_OP = IoW(0xd1, sizeof(KvmS390ZpciOp));

    // vCPU ioctls of other architectures, and the later x86 ones.
    public static readonly ulong KVM_S390_INTERRUPT = IoW(0x94, sizeof(KvmS390Interrupt));
    public static readonly ulong KVM_S390_SET_INITIAL_PSW = IoW(0x96, sizeof(KvmS390Psw));
    public static readonly ulong KVM_DIRTY_TLB = IoW(0xaa, sizeof(KvmDirtyTlb));
    public static readonly ulong KVM_ARM_VCPU_INIT = IoW(0xae, sizeof(KvmVcpuInit));
    public static readonly ulong KVM_ARM_PREFERRED_TARGET = IoR(0xaf, sizeof(KvmVcpuInit));
    public static readonly ulong KVM_S390_MEM_OP = IoW(0xb1, sizeof(KvmS390MemOp));
    public static readonly ulong KVM_S390_GET_SKEYS = IoW(0xb2, sizeof(KvmS390Skeys));
    public static readonly ulong KVM_S390_SET_SKEYS = IoW(0xb3, sizeof(KvmS390Skeys));
    public static readonly ulong KVM_S390_IRQ = IoW(0xb4, sizeof(KvmS390Irq));
    public static readonly ulong KVM_S390_SET_IRQ_STATE = IoW(0xb5, sizeof(KvmS390IrqState));
    public static readonly ulong KVM_S390_GET_IRQ_STATE = IoW(0xb6, sizeof(KvmS390IrqState));
    public static readonly ulong KVM_S390_GET_CMMA_BITS = IoWR(0xb8, sizeof(KvmS390CmmaLog));
    public static readonly ulong KVM_S390_SET_CMMA_BITS = IoW(0xb9, sizeof(KvmS390CmmaLog));
    public static readonly ulong KVM_GET_NESTED_STATE = IoWR(0xbe, sizeof(KvmNestedState));
    public static readonly ulong KVM_SET_NESTED_STATE = IoW(0xbf, sizeof(KvmNestedState));
    public static readonly ulong KVM_XEN_VCPU_GET_ATTR = IoWR(0xca, sizeof(KvmXenVcpuAttr));
    public static readonly ulong KVM_XEN_VCPU_SET_ATTR = IoW(0xcb, sizeof(KvmXenVcpuAttr));
    public static readonly ulong KVM_GET_SREGS2 = IoR(0xcc, sizeof(KvmSregs2));
    public static readonly ulong KVM_SET_SREGS2 = IoW(0xcd, sizeof(KvmSregs2));
    public static readonly ulong KVM_S390_PV_CPU_COMMAND = IoWR(0xd0, sizeof(KvmPvCmd));

    // Legacy PCI device assignment (the KVM API document, 4.48–4.54 and 4.61),
    // since removed from the kernel in favour of VFIO; the header still
    // defines the requests and their structs.
    public static readonly ulong KVM_ASSIGN_PCI_DEVICE = IoR(0x69, sizeof(KvmAssignedPciDev));
    public static readonly ulong KVM_ASSIGN_DEV_IRQ = IoW(0x70, sizeof(KvmAssignedIrq));
    public static readonly ulong KVM_DEASSIGN_PCI_DEVICE = IoW(0x72, sizeof(KvmAssignedPciDev));
    public static readonly ulong KVM_ASSIGN_SET_MSIX_NR = IoW(0x73, sizeof(KvmAssignedMsixNr));
    public static readonly ulong KVM_ASSIGN_SET_MSIX_ENTRY = IoW(0x74, sizeof(KvmAssignedMsixEntry));
    public static readonly ulong KVM_DEASSIGN_DEV_IRQ = IoW(0x75, sizeof(KvmAssignedIrq));
    public static readonly ulong KVM_ASSIGN_SET_INTX_MASK = IoW(0xa4, sizeof(KvmAssignedPciDev));

    /// <summary>
    /// Removed (the KVM API document, 4.9: "obsolete and has been removed").
    /// The header still defines the request, but not its struct; kvm_memory_alias
    /// survives only in the x86 asm/kvm.h, which is where this size comes from.
    /// </summary>
    public static readonly ulong KVM_SET_MEMORY_ALIAS = IoW(0x43, sizeof(KvmMemoryAlias));

    // Removed ioctls the current header no longer names: it keeps their numbers
    // only as __KVM_DEPRECATED_* placeholders. These are the historical
    // definitions (Linux 2.6.x linux/kvm.h); the layout test checks them
    // against the same definitions, written out in its supplement header.

    /// <summary>Removed (the KVM API document, 4.17); historically _IOW(KVMIO, 0x87, struct kvm_debug_guest), now __KVM_DEPRECATED_VCPU_W_0x87.</summary>
    public static readonly ulong KVM_DEBUG_GUEST = IoW(0x87, sizeof(KvmDebugGuest));
    /// <summary>Removed kernel tracing; historically _IOW(KVMIO, 0x06, struct kvm_user_trace_setup), now __KVM_DEPRECATED_MAIN_W_0x06.</summary>
    public static readonly ulong KVM_TRACE_ENABLE = IoW(0x06, sizeof(KvmUserTraceSetup));
    /// <summary>Removed kernel tracing; historically _IO(KVMIO, 0x07), now __KVM_DEPRECATED_MAIN_0x07.</summary>
    public static readonly ulong KVM_TRACE_PAUSE = Io(0x07);
    /// <summary>Removed kernel tracing; historically _IO(KVMIO, 0x08), now __KVM_DEPRECATED_MAIN_0x08.</summary>
    public static readonly ulong KVM_TRACE_DISABLE = Io(0x08);
    /// <summary>Removed device assignment; historically _IOR(KVMIO, 0x70, struct kvm_assigned_irq), now __KVM_DEPRECATED_VM_R_0x70.</summary>
    public static readonly ulong KVM_ASSIGN_IRQ = IoR(0x70, sizeof(KvmAssignedIrq));
}
