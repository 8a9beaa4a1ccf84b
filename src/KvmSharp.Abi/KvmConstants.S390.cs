namespace KvmSharp.Abi;

// s390 interrupt types and the flags of the s390 ioctl arguments.
public static partial class KvmConstants
{
    // kvm_s390_interrupt.type / kvm_s390_irq.type.
    public const uint KVM_S390_SIGP_STOP = 0xfffe0000u;
    public const uint KVM_S390_PROGRAM_INT = 0xfffe0001u;
    public const uint KVM_S390_SIGP_SET_PREFIX = 0xfffe0002u;
    public const uint KVM_S390_RESTART = 0xfffe0003u;
    public const uint KVM_S390_INT_PFAULT_INIT = 0xfffe0004u;
    public const uint KVM_S390_INT_PFAULT_DONE = 0xfffe0005u;
    public const uint KVM_S390_MCHK = 0xfffe1000u;
    public const uint KVM_S390_INT_CLOCK_COMP = 0xffff1004u;
    public const uint KVM_S390_INT_CPU_TIMER = 0xffff1005u;
    public const uint KVM_S390_INT_VIRTIO = 0xffff2603u;
    public const uint KVM_S390_INT_SERVICE = 0xffff2401u;
    public const uint KVM_S390_INT_EMERGENCY = 0xffff1201u;
    public const uint KVM_S390_INT_EXTERNAL_CALL = 0xffff1202u;
    public const uint KVM_S390_INT_IO_MIN = 0x00000000u;
    public const uint KVM_S390_INT_IO_MAX = 0xfffdffffu;
    public const uint KVM_S390_INT_IO_AI_MASK = 0x04000000u;

    // kvm_s390_pgm_info.flags.
    public const byte KVM_S390_PGM_FLAGS_ILC_VALID = 0x01;
    public const byte KVM_S390_PGM_FLAGS_ILC_0 = 0x02;
    public const byte KVM_S390_PGM_FLAGS_ILC_1 = 0x04;
    public const byte KVM_S390_PGM_FLAGS_ILC_MASK = 0x06;
    public const byte KVM_S390_PGM_FLAGS_NO_REWIND = 0x08;

    // kvm_s390_stop_info.flags.
    public const uint KVM_S390_STOP_FLAG_STORE_STATUS = 0x01;

    // KVM_S390_STORE_STATUS arguments.
    public const ulong KVM_S390_STORE_STATUS_NOADDR = unchecked((ulong)-1L);
    public const ulong KVM_S390_STORE_STATUS_PREFIXED = unchecked((ulong)-2L);

    // kvm_s390_mem_op.op and .flags.
    public const uint KVM_S390_MEMOP_LOGICAL_READ = 0;
    public const uint KVM_S390_MEMOP_LOGICAL_WRITE = 1;
    public const uint KVM_S390_MEMOP_SIDA_READ = 2;
    public const uint KVM_S390_MEMOP_SIDA_WRITE = 3;
    public const uint KVM_S390_MEMOP_ABSOLUTE_READ = 4;
    public const uint KVM_S390_MEMOP_ABSOLUTE_WRITE = 5;
    public const ulong KVM_S390_MEMOP_F_CHECK_ONLY = 1UL << 0;
    public const ulong KVM_S390_MEMOP_F_INJECT_EXCEPTION = 1UL << 1;
    public const ulong KVM_S390_MEMOP_F_SKEY_PROTECTION = 1UL << 2;

    // kvm_s390_skeys and kvm_s390_cmma_log.
    public const uint KVM_S390_GET_SKEYS_NONE = 1;
    public const ulong KVM_S390_SKEYS_MAX = 1048576;
    public const uint KVM_S390_CMMA_PEEK = 1 << 0;

    // kvm_s390_zpci_op.
    public const byte KVM_S390_ZPCIOP_REG_AEN = 0;
    public const byte KVM_S390_ZPCIOP_DEREG_AEN = 1;
    public const uint KVM_S390_ZPCIOP_REGAEN_HOST = 1 << 0;
}
