using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace KvmSharp.Abi;

// powerpc ioctl arguments. Those linux/kvm.h defines are checked against it;
// those only powerpc's asm/kvm.h defines (kvm_create_spapr_tce and on) are
// checked against their definitions in the layout test's supplement header.

/// <summary>struct kvm_ppc_pvinfo (KVM_PPC_GET_PVINFO).</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct KvmPpcPvinfo
{
    public uint Flags;
    public fixed uint Hcall[4];
    public fixed byte Pad[108];
}

/// <summary>struct kvm_ppc_one_page_size.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct KvmPpcOnePageSize
{
    public uint PageShift;
    public uint PteEnc;
}

[InlineArray(KvmConstants.KVM_PPC_PAGE_SIZES_MAX_SZ)]
public struct KvmPpcOnePageSizes
{
    private KvmPpcOnePageSize _first;
}

/// <summary>struct kvm_ppc_one_seg_page_size.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct KvmPpcOneSegPageSize
{
    public uint PageShift;
    public uint SlbEnc;
    public KvmPpcOnePageSizes Enc;
}

[InlineArray(KvmConstants.KVM_PPC_PAGE_SIZES_MAX_SZ)]
public struct KvmPpcOneSegPageSizes
{
    private KvmPpcOneSegPageSize _first;
}

/// <summary>struct kvm_ppc_smmu_info (KVM_PPC_GET_SMMU_INFO).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct KvmPpcSmmuInfo
{
    public ulong Flags;
    public uint SlbSize;
    public ushort DataKeys;
    public ushort InstrKeys;
    public KvmPpcOneSegPageSizes Sps;
}

/// <summary>struct kvm_ppc_resize_hpt (KVM_PPC_RESIZE_HPT_PREPARE/COMMIT).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct KvmPpcResizeHpt
{
    public ulong Flags;
    public uint Shift;
    public uint Pad;
}

/// <summary>struct kvm_dirty_tlb (KVM_DIRTY_TLB, Book E).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct KvmDirtyTlb
{
    public ulong Bitmap;
    public uint NumDirty;
}

/// <summary>struct kvm_config_tlb: KVM_ENABLE_CAP(KVM_CAP_SW_TLB) argument.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct KvmConfigTlb
{
    public ulong Params;
    public ulong Array;
    public uint MmuType;
    public uint ArrayLen;
}

/// <summary>struct kvm_create_spapr_tce (KVM_CREATE_SPAPR_TCE; powerpc asm/kvm.h).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct KvmCreateSpaprTce
{
    public ulong Liobn;
    public uint WindowSize;
}

/// <summary>struct kvm_create_spapr_tce_64 (KVM_CREATE_SPAPR_TCE_64; powerpc asm/kvm.h).</summary>
[CName("kvm_create_spapr_tce_64")]
[StructLayout(LayoutKind.Sequential)]
public struct KvmCreateSpaprTce64
{
    public ulong Liobn;
    public uint PageShift;
    public uint Flags;
    public ulong Offset;
    public ulong Size;
}

/// <summary>struct kvm_allocate_rma (KVM_ALLOCATE_RMA; powerpc asm/kvm.h).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct KvmAllocateRma
{
    public ulong RmaSize;
}

/// <summary>struct kvm_get_htab_fd (KVM_PPC_GET_HTAB_FD; powerpc asm/kvm.h).</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct KvmGetHtabFd
{
    public ulong Flags;
    public ulong StartIndex;
    public fixed ulong Reserved[2];
}

/// <summary>struct kvm_rtas_token_args (KVM_PPC_RTAS_DEFINE_TOKEN; powerpc asm/kvm.h).</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct KvmRtasTokenArgs
{
    public fixed byte Name[120];
    public ulong Token;
}

/// <summary>struct kvm_ppc_mmuv3_cfg (KVM_PPC_CONFIGURE_V3_MMU; powerpc asm/kvm.h).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct KvmPpcMmuv3Cfg
{
    public ulong Flags;
    public ulong ProcessTable;
}

/// <summary>struct kvm_ppc_radix_geom: one radix tree geometry of kvm_ppc_rmmu_info.</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct KvmPpcRadixGeom
{
    public byte PageShift;
    public fixed byte LevelBits[4];
    public fixed byte Pad[3];
}

[InlineArray(8)]
public struct KvmPpcRadixGeoms
{
    private KvmPpcRadixGeom _first;
}

/// <summary>struct kvm_ppc_rmmu_info (KVM_PPC_GET_RMMU_INFO; powerpc asm/kvm.h).</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct KvmPpcRmmuInfo
{
    public KvmPpcRadixGeoms Geometries;
    public fixed uint ApEncodings[8];
}

/// <summary>struct kvm_ppc_cpu_char (KVM_PPC_GET_CPU_CHAR; powerpc asm/kvm.h).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct KvmPpcCpuChar
{
    public ulong Character;
    public ulong Behaviour;
    public ulong CharacterMask;
    public ulong BehaviourMask;
}
