using System.Runtime.InteropServices;

namespace KvmSharp.Abi;

/// <summary>struct kvm_create_device (KVM_CREATE_DEVICE): <see cref="Fd"/> receives the device handle.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct KvmCreateDevice
{
    public KvmDeviceType Type;
    public uint Fd;
    public uint Flags;
}

/// <summary>struct kvm_device_attr (KVM_SET/GET/HAS_DEVICE_ATTR on device, VM, vCPU and system fds).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct KvmDeviceAttr
{
    public uint Flags;
    public uint Group;
    public ulong Attr;
    /// <summary>User pointer to the attribute's data.</summary>
    public ulong Addr;
}

/// <summary>struct kvm_vfio_spapr_tce: attribute data of the VFIO device's KVM_DEV_VFIO_GROUP_SET_SPAPR_TCE.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct KvmVfioSpaprTce
{
    public int Groupfd;
    public int Tablefd;
}

/// <summary>enum kvm_device_type: KVM_CREATE_DEVICE's device kinds.</summary>
public enum KvmDeviceType : uint
{
    [CName("KVM_DEV_TYPE_FSL_MPIC_20")] FslMpic20 = 1,
    [CName("KVM_DEV_TYPE_FSL_MPIC_42")] FslMpic42 = 2,
    [CName("KVM_DEV_TYPE_XICS")] Xics = 3,
    [CName("KVM_DEV_TYPE_VFIO")] Vfio = 4,
    [CName("KVM_DEV_TYPE_ARM_VGIC_V2")] ArmVgicV2 = 5,
    [CName("KVM_DEV_TYPE_FLIC")] Flic = 6,
    [CName("KVM_DEV_TYPE_ARM_VGIC_V3")] ArmVgicV3 = 7,
    [CName("KVM_DEV_TYPE_ARM_VGIC_ITS")] ArmVgicIts = 8,
    [CName("KVM_DEV_TYPE_XIVE")] Xive = 9,
    [CName("KVM_DEV_TYPE_ARM_PV_TIME")] ArmPvTime = 10,
    [CName("KVM_DEV_TYPE_MAX")] Max = 11,
}
