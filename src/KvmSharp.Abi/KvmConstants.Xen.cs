namespace KvmSharp.Abi;

// Xen emulation: KVM_XEN_HVM_CONFIG flags and the KVM_XEN_*_ATTR types.
public static partial class KvmConstants
{
    public const uint KVM_XEN_HVM_CONFIG_HYPERCALL_MSR = 1 << 0;
    public const uint KVM_XEN_HVM_CONFIG_INTERCEPT_HCALL = 1 << 1;
    public const uint KVM_XEN_HVM_CONFIG_SHARED_INFO = 1 << 2;
    public const uint KVM_XEN_HVM_CONFIG_RUNSTATE = 1 << 3;
    public const uint KVM_XEN_HVM_CONFIG_EVTCHN_2LEVEL = 1 << 4;
    public const uint KVM_XEN_HVM_CONFIG_EVTCHN_SEND = 1 << 5;

    public const uint KVM_XEN_EVTCHN_DEASSIGN = 1 << 0;
    public const uint KVM_XEN_EVTCHN_UPDATE = 1 << 1;
    public const uint KVM_XEN_EVTCHN_RESET = 1 << 2;

    public const ushort KVM_XEN_ATTR_TYPE_LONG_MODE = 0x0;
    public const ushort KVM_XEN_ATTR_TYPE_SHARED_INFO = 0x1;
    public const ushort KVM_XEN_ATTR_TYPE_UPCALL_VECTOR = 0x2;
    public const ushort KVM_XEN_ATTR_TYPE_EVTCHN = 0x3;
    public const ushort KVM_XEN_ATTR_TYPE_XEN_VERSION = 0x4;

    public const ushort KVM_XEN_VCPU_ATTR_TYPE_VCPU_INFO = 0x0;
    public const ushort KVM_XEN_VCPU_ATTR_TYPE_VCPU_TIME_INFO = 0x1;
    public const ushort KVM_XEN_VCPU_ATTR_TYPE_RUNSTATE_ADDR = 0x2;
    public const ushort KVM_XEN_VCPU_ATTR_TYPE_RUNSTATE_CURRENT = 0x3;
    public const ushort KVM_XEN_VCPU_ATTR_TYPE_RUNSTATE_DATA = 0x4;
    public const ushort KVM_XEN_VCPU_ATTR_TYPE_RUNSTATE_ADJUST = 0x5;
    public const ushort KVM_XEN_VCPU_ATTR_TYPE_VCPU_ID = 0x6;
    public const ushort KVM_XEN_VCPU_ATTR_TYPE_TIMER = 0x7;
    public const ushort KVM_XEN_VCPU_ATTR_TYPE_UPCALL_VECTOR = 0x8;

    /// <summary>kvm_irq_routing_xen_evtchn.priority: the only one KVM supports.</summary>
    public const uint KVM_IRQ_ROUTING_XEN_EVTCHN_PRIO_2LEVEL = unchecked((uint)-1);
}
