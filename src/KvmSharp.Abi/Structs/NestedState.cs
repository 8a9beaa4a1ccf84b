using System.Runtime.InteropServices;

namespace KvmSharp.Abi;

/// <summary>
/// struct kvm_nested_state (KVM_GET/SET_NESTED_STATE): the fixed header; the
/// VMX or SVM data (the header's zero-length <c>data</c> union) follows it
/// when <see cref="Size"/> says so.
/// </summary>
[CTrailingArray("data.vmx", typeof(KvmVmxNestedStateData))]
[CTrailingArray("data.svm", typeof(KvmSvmNestedStateData))]
[StructLayout(LayoutKind.Explicit, Size = 128)]
public unsafe struct KvmNestedState
{
    [FieldOffset(0)] public ushort Flags;
    [FieldOffset(2)] public ushort Format;
    [FieldOffset(4)] public uint Size;
    [CName("hdr.vmx")]
    [FieldOffset(8)] public KvmVmxNestedStateHdr Vmx;
    [CName("hdr.svm")]
    [FieldOffset(8)] public KvmSvmNestedStateHdr Svm;
    [CName("hdr.pad")]
    [FieldOffset(8)] public fixed byte HdrPad[120];
}

/// <summary>struct kvm_vmx_nested_state_hdr.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct KvmVmxNestedStateHdr
{
    public ulong VmxonPa;
    public ulong Vmcs12Pa;
    public KvmVmxNestedStateHdrSmm Smm;
    public ushort Pad;
    public uint Flags;
    public ulong PreemptionTimerDeadline;
}

[CUnnamed]
[StructLayout(LayoutKind.Sequential)]
public struct KvmVmxNestedStateHdrSmm
{
    public ushort Flags;
}

/// <summary>struct kvm_svm_nested_state_hdr.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct KvmSvmNestedStateHdr
{
    public ulong VmcbPa;
}

/// <summary>struct kvm_vmx_nested_state_data: what follows a VMX kvm_nested_state.</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct KvmVmxNestedStateData
{
    public fixed byte Vmcs12[KvmConstants.KVM_STATE_NESTED_VMX_VMCS_SIZE];
    public fixed byte ShadowVmcs12[KvmConstants.KVM_STATE_NESTED_VMX_VMCS_SIZE];
}

/// <summary>struct kvm_svm_nested_state_data: what follows an SVM kvm_nested_state.</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct KvmSvmNestedStateData
{
    public fixed byte Vmcb12[KvmConstants.KVM_STATE_NESTED_SVM_VMCB_SIZE];
}
