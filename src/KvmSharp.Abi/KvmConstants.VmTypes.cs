namespace KvmSharp.Abi;

// KVM_CREATE_VM machine types, the pages of a vCPU mapping, and the other
// architectures' small flag sets that linux/kvm.h defines for all of them.
public static partial class KvmConstants
{
    public const ulong KVM_VM_S390_UCONTROL = 1;
    public const ulong KVM_VM_PPC_HV = 1;
    public const ulong KVM_VM_PPC_PR = 2;
    public const ulong KVM_VM_MIPS_AUTO = 0;
    public const ulong KVM_VM_MIPS_VZ = 1;
    public const ulong KVM_VM_MIPS_TE = 2;
    public const ulong KVM_VM_TYPE_ARM_IPA_SIZE_MASK = 0xffUL;

    /// <summary>Page of the vCPU mapping holding PIO data (x86); the run block is page 0.</summary>
    public const int KVM_PIO_PAGE_OFFSET = 1;
    public const int KVM_S390_SIE_PAGE_OFFSET = 1;

    // kvm_ppc_pvinfo.flags and kvm_ppc_smmu_info.flags.
    public const uint KVM_PPC_PVINFO_FLAGS_EV_IDLE = 1 << 0;
    public const ulong KVM_PPC_PAGE_SIZES_REAL = 0x00000001;
    public const ulong KVM_PPC_1T_SEGMENTS = 0x00000002;
    public const ulong KVM_PPC_NO_HASH = 0x00000004;

    // kvm_config_tlb.mmu_type.
    public const uint KVM_MMU_FSL_BOOKE_NOHV = 0;
    public const uint KVM_MMU_FSL_BOOKE_HV = 1;

    public const uint KVM_IOEVENTFD_VALID_FLAG_MASK = (1 << (int)KvmIoeventfdFlagNr.Max) - 1;
    public const ulong KVM_X86_DISABLE_VALID_EXITS =
        KVM_X86_DISABLE_EXITS_MWAIT | KVM_X86_DISABLE_EXITS_HLT | KVM_X86_DISABLE_EXITS_PAUSE | KVM_X86_DISABLE_EXITS_CSTATE;
}
