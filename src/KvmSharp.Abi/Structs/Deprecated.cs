using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace KvmSharp.Abi;

// Arguments of ioctls the kernel has removed. The header keeps these structs
// so that old request numbers stay reserved; KvmIoctls defines the requests.

/// <summary>struct kvm_memory_alias (x86 asm/kvm.h): argument of the removed KVM_SET_MEMORY_ALIAS.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct KvmMemoryAlias
{
    public uint Slot;
    public uint Flags;
    public ulong GuestPhysAddr;
    public ulong MemorySize;
    public ulong TargetPhysAddr;
}

/// <summary>struct kvm_breakpoint: one breakpoint of the removed KVM_DEBUG_GUEST.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct KvmBreakpoint
{
    public uint Enabled;
    public uint Padding;
    public ulong Address;
}

[InlineArray(4)]
public struct KvmBreakpoints
{
    private KvmBreakpoint _first;
}

/// <summary>struct kvm_debug_guest: argument of the removed KVM_DEBUG_GUEST (superseded by KVM_SET_GUEST_DEBUG).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct KvmDebugGuest
{
    public uint Enabled;
    public uint Pad;
    public KvmBreakpoints Breakpoints;
    public uint Singlestep;
}

/// <summary>struct kvm_user_trace_setup: argument of the removed KVM_TRACE_ENABLE.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct KvmUserTraceSetup
{
    public uint BufSize;
    public uint BufNr;
}

/// <summary>struct kvm_assigned_pci_dev: argument of the removed KVM_ASSIGN_PCI_DEVICE / KVM_DEASSIGN_PCI_DEVICE / KVM_ASSIGN_SET_INTX_MASK.</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct KvmAssignedPciDev
{
    public uint AssignedDevId;
    public uint Busnr;
    public uint Devfn;
    public uint Flags;
    public uint Segnr;
    public fixed uint Reserved[11];
}

/// <summary>struct kvm_assigned_irq: argument of the removed KVM_ASSIGN_DEV_IRQ / KVM_DEASSIGN_DEV_IRQ / KVM_ASSIGN_IRQ.</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct KvmAssignedIrq
{
    public uint AssignedDevId;
    public uint HostIrq;
    public uint GuestIrq;
    public uint Flags;
    public fixed uint Reserved[12];
}

/// <summary>struct kvm_assigned_msix_nr: argument of the removed KVM_ASSIGN_SET_MSIX_NR.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct KvmAssignedMsixNr
{
    public uint AssignedDevId;
    public ushort EntryNr;
    public ushort Padding;
}

/// <summary>struct kvm_assigned_msix_entry: argument of the removed KVM_ASSIGN_SET_MSIX_ENTRY.</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct KvmAssignedMsixEntry
{
    public uint AssignedDevId;
    public uint Gsi;
    public ushort Entry;
    public fixed ushort Padding[3];
}
