using System.Runtime.InteropServices;

namespace KvmSharp.Abi;

/// <summary>struct kvm_xen_hvm_attr (KVM_XEN_HVM_GET/SET_ATTR): <see cref="Type"/> (KVM_XEN_ATTR_TYPE_*) selects the union member.</summary>
[StructLayout(LayoutKind.Explicit, Size = 72)]
public unsafe struct KvmXenHvmAttr
{
    [FieldOffset(0)] public ushort Type;
    [FieldOffset(2)] public fixed ushort Pad[3];
    [CName("u.long_mode")]
    [FieldOffset(8)] public byte LongMode;
    [CName("u.vector")]
    [FieldOffset(8)] public byte Vector;
    [CName("u.shared_info.gfn")]
    [FieldOffset(8)] public ulong SharedInfoGfn;
    [CName("u.evtchn")]
    [FieldOffset(8)] public KvmXenHvmAttrEvtchn Evtchn;
    [CName("u.xen_version")]
    [FieldOffset(8)] public uint XenVersion;
    [CName("u.pad")]
    [FieldOffset(8)] public fixed ulong UnionPad[8];
}

/// <summary>The evtchn member of kvm_xen_hvm_attr: how an event channel port is delivered.</summary>
[CUnnamed]
[StructLayout(LayoutKind.Explicit, Size = 28)]
public unsafe struct KvmXenHvmAttrEvtchn
{
    [FieldOffset(0)] public uint SendPort;
    [FieldOffset(4)] public uint Type;
    [FieldOffset(8)] public uint Flags;
    [CName("deliver.port")]
    [FieldOffset(12)] public KvmXenEvtchnDeliverPort DeliverPort;
    [CName("deliver.eventfd")]
    [FieldOffset(12)] public KvmXenEvtchnDeliverEventfd DeliverEventfd;
    [CName("deliver.padding")]
    [FieldOffset(12)] public fixed uint DeliverPadding[4];
}

[CUnnamed]
[StructLayout(LayoutKind.Sequential)]
public struct KvmXenEvtchnDeliverPort
{
    public uint Port;
    public uint Vcpu;
    public uint Priority;
}

[CUnnamed]
[StructLayout(LayoutKind.Sequential)]
public struct KvmXenEvtchnDeliverEventfd
{
    public uint Port;
    public int Fd;
}

/// <summary>struct kvm_xen_vcpu_attr (KVM_XEN_VCPU_GET/SET_ATTR): <see cref="Type"/> (KVM_XEN_VCPU_ATTR_TYPE_*) selects the union member.</summary>
[StructLayout(LayoutKind.Explicit, Size = 72)]
public unsafe struct KvmXenVcpuAttr
{
    [FieldOffset(0)] public ushort Type;
    [FieldOffset(2)] public fixed ushort Pad[3];
    [CName("u.gpa")]
    [FieldOffset(8)] public ulong Gpa;
    [CName("u.pad")]
    [FieldOffset(8)] public fixed ulong UnionPad[8];
    [CName("u.runstate")]
    [FieldOffset(8)] public KvmXenVcpuAttrRunstate Runstate;
    [CName("u.vcpu_id")]
    [FieldOffset(8)] public uint VcpuId;
    [CName("u.timer")]
    [FieldOffset(8)] public KvmXenVcpuAttrTimer Timer;
    [CName("u.vector")]
    [FieldOffset(8)] public byte Vector;
}

[CUnnamed]
[StructLayout(LayoutKind.Sequential)]
public struct KvmXenVcpuAttrRunstate
{
    public ulong State;
    public ulong StateEntryTime;
    public ulong TimeRunning;
    public ulong TimeRunnable;
    public ulong TimeBlocked;
    public ulong TimeOffline;
}

[CUnnamed]
[StructLayout(LayoutKind.Sequential)]
public struct KvmXenVcpuAttrTimer
{
    public uint Port;
    public uint Priority;
    public ulong ExpiresNs;
}
