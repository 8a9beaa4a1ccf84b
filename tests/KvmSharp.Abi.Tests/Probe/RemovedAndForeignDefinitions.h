/*
 * Definitions KvmSharp.Abi declares that the x86-64 linux/kvm.h in front of
 * the probe cannot supply, written down here so the probe can still check
 * them. Each one is a fact of a header, not of KvmSharp:
 *
 *  - ioctls the KVM API document lists as removed, with their historical
 *    definitions (Linux 2.6.x include/linux/kvm.h), where the current header
 *    keeps only an anonymous __KVM_DEPRECATED_* placeholder (their structs,
 *    and KVM_SET_MEMORY_REGION/KVM_SET_MEMORY_ALIAS, are still there);
 *  - argument structs of other architectures' ioctls, which linux/kvm.h
 *    names but which only those architectures' asm/kvm.h or
 *    (for powerpc) asm/kvm.h-included headers define.
 *
 * Guarded so that a header which still has a definition wins over this one.
 */
#ifndef KVMSHARP_REMOVED_AND_FOREIGN_DEFINITIONS_H
#define KVMSHARP_REMOVED_AND_FOREIGN_DEFINITIONS_H

#include <linux/types.h>
#include <linux/ioctl.h>

/* --- Removed ioctls (historical linux/kvm.h) --- */

#ifndef KVM_DEBUG_GUEST
#define KVM_DEBUG_GUEST           _IOW(KVMIO,  0x87, struct kvm_debug_guest)
#endif
#ifndef KVM_TRACE_ENABLE
#define KVM_TRACE_ENABLE          _IOW(KVMIO,  0x06, struct kvm_user_trace_setup)
#endif
#ifndef KVM_TRACE_PAUSE
#define KVM_TRACE_PAUSE           _IO(KVMIO,   0x07)
#endif
#ifndef KVM_TRACE_DISABLE
#define KVM_TRACE_DISABLE         _IO(KVMIO,   0x08)
#endif
#ifndef KVM_ASSIGN_IRQ
#define KVM_ASSIGN_IRQ            _IOR(KVMIO,  0x70, struct kvm_assigned_irq)
#endif

/* --- Other architectures' argument structs (their uapi asm/kvm.h) --- */

/* arm64: KVM_ARM_VCPU_INIT, KVM_ARM_PREFERRED_TARGET */
struct kvm_vcpu_init {
	__u32 target;
	__u32 features[7];
};

/* arm64: KVM_ARM_MTE_COPY_TAGS */
struct kvm_arm_copy_mte_tags {
	__u64 guest_ipa;
	__u64 length;
	void *addr;
	__u64 flags;
	__u64 reserved[2];
};

/* powerpc: KVM_CREATE_SPAPR_TCE */
struct kvm_create_spapr_tce {
	__u64 liobn;
	__u32 window_size;
};

/* powerpc: KVM_CREATE_SPAPR_TCE_64 */
struct kvm_create_spapr_tce_64 {
	__u64 liobn;
	__u32 page_shift;
	__u32 flags;
	__u64 offset;
	__u64 size;
};

/* powerpc: KVM_ALLOCATE_RMA */
struct kvm_allocate_rma {
	__u64 rma_size;
};

/* powerpc: KVM_PPC_GET_HTAB_FD */
struct kvm_get_htab_fd {
	__u64 flags;
	__u64 start_index;
	__u64 reserved[2];
};

/* powerpc: KVM_PPC_RTAS_DEFINE_TOKEN */
struct kvm_rtas_token_args {
	char name[120];
	__u64 token;
};

/* powerpc: KVM_PPC_CONFIGURE_V3_MMU */
struct kvm_ppc_mmuv3_cfg {
	__u64 flags;
	__u64 process_table;
};

/* powerpc: KVM_PPC_GET_RMMU_INFO */
struct kvm_ppc_radix_geom {
	__u8 page_shift;
	__u8 level_bits[4];
	__u8 pad[3];
};

struct kvm_ppc_rmmu_info {
	struct kvm_ppc_radix_geom geometries[8];
	__u32 ap_encodings[8];
};

/* powerpc: KVM_PPC_GET_CPU_CHAR */
struct kvm_ppc_cpu_char {
	__u64 character;
	__u64 behaviour;
	__u64 character_mask;
	__u64 behaviour_mask;
};

#endif
