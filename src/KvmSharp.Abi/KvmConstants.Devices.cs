namespace KvmSharp.Abi;

// Device attributes (KVM_*_DEVICE_ATTR) and the flags of the removed PCI device assignment.
public static partial class KvmConstants
{
    // KVM_DEV_TYPE_VFIO attribute groups and attributes.
    public const uint KVM_DEV_VFIO_GROUP = 1;
    public const ulong KVM_DEV_VFIO_GROUP_ADD = 1;
    public const ulong KVM_DEV_VFIO_GROUP_DEL = 2;
    public const ulong KVM_DEV_VFIO_GROUP_SET_SPAPR_TCE = 3;

    // x86 vCPU attribute group KVM_VCPU_TSC_CTRL.
    public const uint KVM_VCPU_TSC_CTRL = 0;
    public const ulong KVM_VCPU_TSC_OFFSET = 0;

    // x86 system attribute (KVM_GET_DEVICE_ATTR on /dev/kvm).
    public const ulong KVM_X86_XCOMP_GUEST_SUPP = 0;

    // kvm_assigned_pci_dev.flags.
    public const uint KVM_DEV_ASSIGN_ENABLE_IOMMU = 1 << 0;
    public const uint KVM_DEV_ASSIGN_PCI_2_3 = 1 << 1;
    public const uint KVM_DEV_ASSIGN_MASK_INTX = 1 << 2;

    // kvm_assigned_irq.flags.
    public const uint KVM_DEV_IRQ_HOST_INTX = 1 << 0;
    public const uint KVM_DEV_IRQ_HOST_MSI = 1 << 1;
    public const uint KVM_DEV_IRQ_HOST_MSIX = 1 << 2;
    public const uint KVM_DEV_IRQ_GUEST_INTX = 1 << 8;
    public const uint KVM_DEV_IRQ_GUEST_MSI = 1 << 9;
    public const uint KVM_DEV_IRQ_GUEST_MSIX = 1 << 10;
    public const uint KVM_DEV_IRQ_HOST_MASK = 0x00ff;
    public const uint KVM_DEV_IRQ_GUEST_MASK = 0xff00;
    public const int KVM_MAX_MSIX_PER_DEV = 256;

    // arm: kvm_run.s.regs.device_irq_level bits with KVM_CAP_ARM_USER_IRQ.
    public const ulong KVM_ARM_DEV_EL1_VTIMER = 1 << 0;
    public const ulong KVM_ARM_DEV_EL1_PTIMER = 1 << 1;
    public const ulong KVM_ARM_DEV_PMU = 1 << 2;
}
