using System.Runtime.InteropServices;

namespace KvmSharp.Abi;

/// <summary>struct kvm_userspace_memory_region (KVM_SET_USER_MEMORY_REGION).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct KvmUserspaceMemoryRegion
{
    public uint Slot;
    public KvmMemoryFlags Flags;
    public ulong GuestPhysAddr;
    /// <summary>Bytes; 0 deletes the slot.</summary>
    public ulong MemorySize;
    /// <summary>Start of the host memory that backs the slot.</summary>
    public ulong UserspaceAddr;
}

/// <summary>struct kvm_memory_region: the argument of the removed KVM_SET_MEMORY_REGION.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct KvmMemoryRegion
{
    public uint Slot;
    public uint Flags;
    public ulong GuestPhysAddr;
    public ulong MemorySize;
}

/// <summary>struct kvm_dirty_log (KVM_GET_DIRTY_LOG); <see cref="DirtyBitmap"/> is a user pointer.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct KvmDirtyLog
{
    public uint Slot;
    public uint Padding1;
    public ulong DirtyBitmap;
}

/// <summary>struct kvm_clear_dirty_log (KVM_CLEAR_DIRTY_LOG).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct KvmClearDirtyLog
{
    public uint Slot;
    public uint NumPages;
    public ulong FirstPage;
    public ulong DirtyBitmap;
}

/// <summary>struct kvm_translation (KVM_TRANSLATE).</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct KvmTranslation
{
    public ulong LinearAddress;
    public ulong PhysicalAddress;
    public byte Valid;
    public byte Writeable;
    public byte Usermode;
    public fixed byte Pad[5];
}

/// <summary>struct kvm_coalesced_mmio_zone (KVM_REGISTER/UNREGISTER_COALESCED_MMIO).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct KvmCoalescedMmioZone
{
    public ulong Addr;
    public uint Size;
    public uint Pad;
}

/// <summary>struct kvm_coalesced_mmio: one write recorded in the coalesced-MMIO ring.</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct KvmCoalescedMmio
{
    public ulong PhysAddr;
    public uint Len;
    /// <summary>C: union { __u32 pad; __u32 pio; }.</summary>
    public uint Pio;
    public fixed byte Data[8];
}

/// <summary>struct kvm_coalesced_mmio_ring: the ring page's header; kvm_coalesced_mmio entries follow it directly.</summary>
[CTrailingArray("coalesced_mmio", typeof(KvmCoalescedMmio))]
[StructLayout(LayoutKind.Sequential)]
public struct KvmCoalescedMmioRing
{
    public uint First;
    public uint Last;
}

/// <summary>struct kvm_dirty_gfn: one entry of a vCPU's dirty ring.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct KvmDirtyGfn
{
    public uint Flags;
    public uint Slot;
    public ulong Offset;
}

/// <summary>struct kvm_enc_region (KVM_MEMORY_ENCRYPT_REG/UNREG_REGION).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct KvmEncRegion
{
    public ulong Addr;
    public ulong Size;
}
