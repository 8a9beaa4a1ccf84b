using System.Runtime.InteropServices;

namespace KvmSharp.Abi;

// AMD SEV: the argument of KVM_MEMORY_ENCRYPT_OP and the per-command data its
// <c>data</c> field points to.

/// <summary>struct kvm_sev_cmd: KVM_MEMORY_ENCRYPT_OP's argument on AMD; <see cref="Data"/> points to the command's struct.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct KvmSevCmd
{
    public KvmSevCmdId Id;
    public ulong Data;
    public uint Error;
    public uint SevFd;
}

[StructLayout(LayoutKind.Sequential)]
public struct KvmSevLaunchStart
{
    public uint Handle;
    public uint Policy;
    public ulong DhUaddr;
    public uint DhLen;
    public ulong SessionUaddr;
    public uint SessionLen;
}

[StructLayout(LayoutKind.Sequential)]
public struct KvmSevLaunchUpdateData
{
    public ulong Uaddr;
    public uint Len;
}

[StructLayout(LayoutKind.Sequential)]
public struct KvmSevLaunchSecret
{
    public ulong HdrUaddr;
    public uint HdrLen;
    public ulong GuestUaddr;
    public uint GuestLen;
    public ulong TransUaddr;
    public uint TransLen;
}

[StructLayout(LayoutKind.Sequential)]
public struct KvmSevLaunchMeasure
{
    public ulong Uaddr;
    public uint Len;
}

[StructLayout(LayoutKind.Sequential)]
public struct KvmSevGuestStatus
{
    public uint Handle;
    public uint Policy;
    public uint State;
}

[StructLayout(LayoutKind.Sequential)]
public struct KvmSevDbg
{
    public ulong SrcUaddr;
    public ulong DstUaddr;
    public uint Len;
}

[StructLayout(LayoutKind.Sequential)]
public unsafe struct KvmSevAttestationReport
{
    public fixed byte Mnonce[16];
    public ulong Uaddr;
    public uint Len;
}

[StructLayout(LayoutKind.Sequential)]
public struct KvmSevSendStart
{
    public uint Policy;
    public ulong PdhCertUaddr;
    public uint PdhCertLen;
    public ulong PlatCertsUaddr;
    public uint PlatCertsLen;
    public ulong AmdCertsUaddr;
    public uint AmdCertsLen;
    public ulong SessionUaddr;
    public uint SessionLen;
}

[StructLayout(LayoutKind.Sequential)]
public struct KvmSevSendUpdateData
{
    public ulong HdrUaddr;
    public uint HdrLen;
    public ulong GuestUaddr;
    public uint GuestLen;
    public ulong TransUaddr;
    public uint TransLen;
}

[StructLayout(LayoutKind.Sequential)]
public struct KvmSevReceiveStart
{
    public uint Handle;
    public uint Policy;
    public ulong PdhUaddr;
    public uint PdhLen;
    public ulong SessionUaddr;
    public uint SessionLen;
}

[StructLayout(LayoutKind.Sequential)]
public struct KvmSevReceiveUpdateData
{
    public ulong HdrUaddr;
    public uint HdrLen;
    public ulong GuestUaddr;
    public uint GuestLen;
    public ulong TransUaddr;
    public uint TransLen;
}

/// <summary>enum sev_cmd_id: kvm_sev_cmd.id.</summary>
public enum KvmSevCmdId : uint
{
    [CName("KVM_SEV_INIT")] Init = 0,
    [CName("KVM_SEV_ES_INIT")] EsInit,
    [CName("KVM_SEV_LAUNCH_START")] LaunchStart,
    [CName("KVM_SEV_LAUNCH_UPDATE_DATA")] LaunchUpdateData,
    [CName("KVM_SEV_LAUNCH_UPDATE_VMSA")] LaunchUpdateVmsa,
    [CName("KVM_SEV_LAUNCH_SECRET")] LaunchSecret,
    [CName("KVM_SEV_LAUNCH_MEASURE")] LaunchMeasure,
    [CName("KVM_SEV_LAUNCH_FINISH")] LaunchFinish,
    [CName("KVM_SEV_SEND_START")] SendStart,
    [CName("KVM_SEV_SEND_UPDATE_DATA")] SendUpdateData,
    [CName("KVM_SEV_SEND_UPDATE_VMSA")] SendUpdateVmsa,
    [CName("KVM_SEV_SEND_FINISH")] SendFinish,
    [CName("KVM_SEV_RECEIVE_START")] ReceiveStart,
    [CName("KVM_SEV_RECEIVE_UPDATE_DATA")] ReceiveUpdateData,
    [CName("KVM_SEV_RECEIVE_UPDATE_VMSA")] ReceiveUpdateVmsa,
    [CName("KVM_SEV_RECEIVE_FINISH")] ReceiveFinish,
    [CName("KVM_SEV_GUEST_STATUS")] GuestStatus,
    [CName("KVM_SEV_DBG_DECRYPT")] DbgDecrypt,
    [CName("KVM_SEV_DBG_ENCRYPT")] DbgEncrypt,
    [CName("KVM_SEV_CERT_EXPORT")] CertExport,
    [CName("KVM_SEV_GET_ATTESTATION_REPORT")] GetAttestationReport,
    [CName("KVM_SEV_SEND_CANCEL")] SendCancel,
    [CName("KVM_SEV_NR_MAX")] NrMax,
}
