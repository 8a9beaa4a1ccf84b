using System.Runtime.InteropServices;

namespace KvmSharp.Abi;

// arm64 ioctl arguments. kvm_arm_device_addr is in linux/kvm.h; the others
// only in arm64's asm/kvm.h, so the layout test checks them against its
// supplement header.

/// <summary>struct kvm_arm_device_addr (KVM_ARM_SET_DEVICE_ADDR).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct KvmArmDeviceAddr
{
    public ulong Id;
    public ulong Addr;
}

/// <summary>struct kvm_vcpu_init (KVM_ARM_VCPU_INIT, KVM_ARM_PREFERRED_TARGET; arm64 asm/kvm.h).</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct KvmVcpuInit
{
    public uint Target;
    public fixed uint Features[7];
}

/// <summary>struct kvm_arm_copy_mte_tags (KVM_ARM_MTE_COPY_TAGS; arm64 asm/kvm.h); <see cref="Addr"/> is a user pointer.</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct KvmArmCopyMteTags
{
    public ulong GuestIpa;
    public ulong Length;
    public ulong Addr;
    public ulong Flags;
    public fixed ulong Reserved[2];
}
