using System.Runtime.InteropServices;

namespace KvmSharp.Abi;

/// <summary>struct kvm_msr_entry.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct KvmMsrEntry
{
    public uint Index;
    public uint Reserved;
    public ulong Data;
}

/// <summary>struct kvm_msrs: header of KVM_GET/SET_MSRS; <see cref="Nmsrs"/> entries follow.</summary>
[CTrailingArray("entries", typeof(KvmMsrEntry))]
[StructLayout(LayoutKind.Sequential)]
public struct KvmMsrs
{
    public uint Nmsrs;
    public uint Pad;
}

/// <summary>struct kvm_msr_list: header of KVM_GET_MSR_INDEX_LIST; <see cref="Nmsrs"/> u32 indices follow.</summary>
[CTrailingArray("indices", typeof(uint))]
[StructLayout(LayoutKind.Sequential)]
public struct KvmMsrList
{
    public uint Nmsrs;
}

/// <summary>struct kvm_cpuid_entry2.</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct KvmCpuidEntry2
{
    public uint Function;
    public uint Index;
    public uint Flags;
    public uint Eax;
    public uint Ebx;
    public uint Ecx;
    public uint Edx;
    public fixed uint Padding[3];
}

/// <summary>struct kvm_cpuid2: header of KVM_SET/GET_CPUID2 and KVM_GET_SUPPORTED_CPUID; entries follow.</summary>
[CTrailingArray("entries", typeof(KvmCpuidEntry2))]
[StructLayout(LayoutKind.Sequential)]
public struct KvmCpuid2
{
    public uint Nent;
    public uint Padding;
}

/// <summary>struct kvm_cpuid_entry (the original KVM_SET_CPUID).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct KvmCpuidEntry
{
    public uint Function;
    public uint Eax;
    public uint Ebx;
    public uint Ecx;
    public uint Edx;
    public uint Padding;
}

/// <summary>struct kvm_cpuid: header of KVM_SET_CPUID; entries follow.</summary>
[CTrailingArray("entries", typeof(KvmCpuidEntry))]
[StructLayout(LayoutKind.Sequential)]
public struct KvmCpuid
{
    public uint Nent;
    public uint Padding;
}
