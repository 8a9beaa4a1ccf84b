using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace KvmSharp.Abi;

/// <summary>struct kvm_interrupt (KVM_INTERRUPT).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct KvmInterrupt
{
    public uint Irq;
}

/// <summary>struct kvm_irq_level (KVM_IRQ_LINE, KVM_IRQ_LINE_STATUS); <see cref="Status"/> overlays <see cref="Irq"/> on return.</summary>
[StructLayout(LayoutKind.Explicit)]
public struct KvmIrqLevel
{
    [FieldOffset(0)] public uint Irq;
    [FieldOffset(0)] public int Status;
    [FieldOffset(4)] public uint Level;
}

/// <summary>struct kvm_pic_state: one 8259.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct KvmPicState
{
    public byte LastIrr;
    public byte Irr;
    public byte Imr;
    public byte Isr;
    public byte PriorityAdd;
    public byte IrqBase;
    public byte ReadRegSelect;
    public byte Poll;
    public byte SpecialMask;
    public byte InitState;
    public byte AutoEoi;
    public byte RotateOnAutoEoi;
    public byte SpecialFullyNestedMode;
    public byte Init4;
    public byte Elcr;
    public byte ElcrMask;
}

/// <summary>
/// One IOAPIC redirection-table entry (the union in struct kvm_ioapic_state):
/// the raw 64 bits; the C bitfield view is offered as properties.
/// </summary>
[CUnnamed]
[StructLayout(LayoutKind.Sequential)]
public struct KvmIoapicRedirectionEntry
{
    public ulong Bits;

    public readonly byte Vector => (byte)Bits;
    public readonly int DeliveryMode => (int)(Bits >> 8) & 7;
    public readonly bool DestModeLogical => ((Bits >> 11) & 1) != 0;
    public readonly bool DeliveryStatus => ((Bits >> 12) & 1) != 0;
    public readonly bool ActiveLow => ((Bits >> 13) & 1) != 0;
    public readonly bool RemoteIrr => ((Bits >> 14) & 1) != 0;
    public readonly bool LevelTriggered => ((Bits >> 15) & 1) != 0;
    public readonly bool Masked => ((Bits >> 16) & 1) != 0;
    public readonly byte DestId => (byte)(Bits >> 56);
}

[InlineArray(KvmConstants.KVM_IOAPIC_NUM_PINS)]
public struct KvmIoapicRedirectionTable
{
    private KvmIoapicRedirectionEntry _first;
}

/// <summary>struct kvm_ioapic_state.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct KvmIoapicState
{
    public ulong BaseAddress;
    public uint Ioregsel;
    public uint Id;
    public uint Irr;
    public uint Pad;
    [CName("redirtbl")] public KvmIoapicRedirectionTable Redirtbl;
}

/// <summary>struct kvm_irqchip (KVM_GET/SET_IRQCHIP): <see cref="ChipId"/> selects which union member is meaningful.</summary>
[StructLayout(LayoutKind.Explicit, Size = 520)]
public unsafe struct KvmIrqchip
{
    [FieldOffset(0)] public uint ChipId;
    [FieldOffset(4)] public uint Pad;
    [CName("chip.dummy")]
    [FieldOffset(8)] public fixed byte Dummy[512];
    [CName("chip.pic")]
    [FieldOffset(8)] public KvmPicState Pic;
    [CName("chip.ioapic")]
    [FieldOffset(8)] public KvmIoapicState Ioapic;
}

/// <summary>struct kvm_lapic_state (KVM_GET/SET_LAPIC): the 1 KiB xAPIC register page.</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct KvmLapicState
{
    public fixed byte Regs[KvmConstants.KVM_APIC_REG_SIZE];
}

/// <summary>struct kvm_msi (KVM_SIGNAL_MSI).</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct KvmMsi
{
    public uint AddressLo;
    public uint AddressHi;
    public uint Data;
    public uint Flags;
    public uint Devid;
    public fixed byte Pad[12];
}

/// <summary>struct kvm_irqfd (KVM_IRQFD).</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct KvmIrqfd
{
    public uint Fd;
    public uint Gsi;
    public uint Flags;
    public uint Resamplefd;
    public fixed byte Pad[16];
}

/// <summary>struct kvm_ioeventfd (KVM_IOEVENTFD).</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct KvmIoeventfd
{
    public ulong Datamatch;
    public ulong Addr;
    public uint Len;
    public int Fd;
    public uint Flags;
    public fixed byte Pad[36];
}

/// <summary>struct kvm_irq_routing_irqchip.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct KvmIrqRoutingIrqchip
{
    public uint Irqchip;
    public uint Pin;
}

/// <summary>struct kvm_irq_routing_msi.</summary>
[StructLayout(LayoutKind.Explicit)]
public struct KvmIrqRoutingMsi
{
    [FieldOffset(0)] public uint AddressLo;
    [FieldOffset(4)] public uint AddressHi;
    [FieldOffset(8)] public uint Data;
    [FieldOffset(12)] public uint Pad;
    [FieldOffset(12)] public uint Devid;
}

/// <summary>struct kvm_irq_routing_s390_adapter.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct KvmIrqRoutingS390Adapter
{
    public ulong IndAddr;
    public ulong SummaryAddr;
    public ulong IndOffset;
    public uint SummaryOffset;
    public uint AdapterId;
}

/// <summary>struct kvm_irq_routing_hv_sint: a Hyper-V synthetic interrupt.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct KvmIrqRoutingHvSint
{
    public uint Vcpu;
    public uint Sint;
}

/// <summary>struct kvm_irq_routing_xen_evtchn: a Xen event channel (also KVM_XEN_HVM_EVTCHN_SEND).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct KvmIrqRoutingXenEvtchn
{
    public uint Port;
    public uint Vcpu;
    public uint Priority;
}

/// <summary>struct kvm_irq_routing_entry.</summary>
[StructLayout(LayoutKind.Explicit, Size = 48)]
public unsafe struct KvmIrqRoutingEntry
{
    [FieldOffset(0)] public uint Gsi;
    [FieldOffset(4)] public uint Type;
    [FieldOffset(8)] public uint Flags;
    [FieldOffset(12)] public uint Pad;
    [CName("u.irqchip")]
    [FieldOffset(16)] public KvmIrqRoutingIrqchip Irqchip;
    [CName("u.msi")]
    [FieldOffset(16)] public KvmIrqRoutingMsi Msi;
    [CName("u.adapter")]
    [FieldOffset(16)] public KvmIrqRoutingS390Adapter Adapter;
    [CName("u.hv_sint")]
    [FieldOffset(16)] public KvmIrqRoutingHvSint HvSint;
    [CName("u.xen_evtchn")]
    [FieldOffset(16)] public KvmIrqRoutingXenEvtchn XenEvtchn;
    [CName("u.pad")]
    [FieldOffset(16)] public fixed uint UnionPad[8];
}

/// <summary>struct kvm_irq_routing: header of KVM_SET_GSI_ROUTING; <see cref="Nr"/> entries follow.</summary>
[CTrailingArray("entries", typeof(KvmIrqRoutingEntry))]
[StructLayout(LayoutKind.Sequential)]
public struct KvmIrqRouting
{
    public uint Nr;
    public uint Flags;
}

/// <summary>struct kvm_hyperv_eventfd (KVM_HYPERV_EVENTFD).</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct KvmHypervEventfd
{
    public uint ConnId;
    public int Fd;
    public uint Flags;
    public fixed uint Padding[3];
}
