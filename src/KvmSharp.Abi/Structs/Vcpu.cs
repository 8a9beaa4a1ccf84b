using System.Runtime.InteropServices;

namespace KvmSharp.Abi;

/// <summary>struct kvm_vcpu_events (KVM_GET/SET_VCPU_EVENTS), with its anonymous sub-structs flattened into named parts.</summary>
[StructLayout(LayoutKind.Explicit, Size = 64)]
public unsafe struct KvmVcpuEvents
{
    [FieldOffset(0)] public KvmVcpuEventsException Exception;
    [FieldOffset(8)] public KvmVcpuEventsInterrupt Interrupt;
    [FieldOffset(12)] public KvmVcpuEventsNmi Nmi;
    [FieldOffset(16)] public uint SipiVector;
    [FieldOffset(20)] public uint Flags;
    [FieldOffset(24)] public KvmVcpuEventsSmi Smi;
    [FieldOffset(28)] public KvmVcpuEventsTripleFault TripleFault;
    [FieldOffset(29)] public fixed byte Reserved[26];
    [FieldOffset(55)] public byte ExceptionHasPayload;
    [FieldOffset(56)] public ulong ExceptionPayload;
}

[CUnnamed]
[StructLayout(LayoutKind.Sequential)]
public struct KvmVcpuEventsException
{
    public byte Injected;
    public byte Nr;
    public byte HasErrorCode;
    public byte Pending;
    public uint ErrorCode;
}

[CUnnamed]
[StructLayout(LayoutKind.Sequential)]
public struct KvmVcpuEventsInterrupt
{
    public byte Injected;
    public byte Nr;
    public byte Soft;
    public byte Shadow;
}

[CUnnamed]
[StructLayout(LayoutKind.Sequential)]
public struct KvmVcpuEventsNmi
{
    public byte Injected;
    public byte Pending;
    public byte Masked;
    public byte Pad;
}

[CUnnamed]
[StructLayout(LayoutKind.Sequential)]
public struct KvmVcpuEventsSmi
{
    public byte Smm;
    public byte Pending;
    public byte SmmInsideNmi;
    public byte LatchedInit;
}

[CUnnamed]
[StructLayout(LayoutKind.Sequential)]
public struct KvmVcpuEventsTripleFault
{
    public byte Pending;
}

/// <summary>struct kvm_mp_state (KVM_GET/SET_MP_STATE).</summary>
[CName("kvm_mp_state")]
[StructLayout(LayoutKind.Sequential)]
public struct KvmMpStateArg
{
    public KvmMpState MpState;
}

/// <summary>struct kvm_guest_debug_arch: DR0–DR7 as the host wants them.</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct KvmGuestDebugArch
{
    public fixed ulong Debugreg[8];
}

/// <summary>struct kvm_guest_debug (KVM_SET_GUEST_DEBUG).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct KvmGuestDebug
{
    public uint Control;
    public uint Pad;
    public KvmGuestDebugArch Arch;
}

/// <summary>struct kvm_enable_cap (KVM_ENABLE_CAP).</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct KvmEnableCap
{
    public uint Cap;
    public uint Flags;
    public fixed ulong Args[4];
    public fixed byte Pad[64];
}

/// <summary>struct kvm_one_reg (KVM_GET/SET_ONE_REG).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct KvmOneReg
{
    public ulong Id;
    public ulong Addr;
}

/// <summary>struct kvm_reg_list: header of KVM_GET_REG_LIST; <see cref="N"/> u64 ids follow.</summary>
[CTrailingArray("reg", typeof(ulong))]
[StructLayout(LayoutKind.Sequential)]
public struct KvmRegList
{
    public ulong N;
}

/// <summary>struct kvm_signal_mask: header of KVM_SET_SIGNAL_MASK; <see cref="Len"/> bytes of sigset follow.</summary>
[CTrailingArray("sigset", typeof(byte))]
[StructLayout(LayoutKind.Sequential)]
public struct KvmSignalMask
{
    public uint Len;
}

/// <summary>struct kvm_xen_hvm_config (KVM_XEN_HVM_CONFIG).</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct KvmXenHvmConfig
{
    public uint Flags;
    public uint Msr;
    [CName("blob_addr_32")] public ulong BlobAddr32;
    [CName("blob_addr_64")] public ulong BlobAddr64;
    [CName("blob_size_32")] public byte BlobSize32;
    [CName("blob_size_64")] public byte BlobSize64;
    public fixed byte Pad2[30];
}

/// <summary>struct kvm_tpr_access_ctl (KVM_TPR_ACCESS_REPORTING).</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct KvmTprAccessCtl
{
    public uint Enabled;
    public uint Flags;
    public fixed uint Reserved[8];
}

/// <summary>struct kvm_vapic_addr (KVM_SET_VAPIC_ADDR).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct KvmVapicAddr
{
    public ulong VapicAddr;
}

/// <summary>struct kvm_x86_mce (KVM_X86_SET_MCE).</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct KvmX86Mce
{
    public ulong Status;
    public ulong Addr;
    public ulong Misc;
    public ulong McgStatus;
    public byte Bank;
    public fixed byte Pad1[7];
    public fixed ulong Pad2[3];
}

/// <summary>struct kvm_reinject_control (KVM_REINJECT_CONTROL).</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct KvmReinjectControl
{
    public byte PitReinject;
    public fixed byte Reserved[31];
}
