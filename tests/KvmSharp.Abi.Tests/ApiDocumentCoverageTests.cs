namespace KvmSharp.Abi.Tests;

/// <summary>
/// The ioctls of the KVM API document's 2012 revision (sections 4.1 to 4.71 of
/// Documentation/virtual/kvm/api.txt), including those it already calls
/// removed, all have a request number in KvmIoctls.
/// </summary>
public class ApiDocumentCoverageTests
{
    private static readonly string[] Sections2012 =
    [
        "KVM_GET_API_VERSION", // 4.1
        "KVM_CREATE_VM", // 4.2
        "KVM_GET_MSR_INDEX_LIST", // 4.3
        "KVM_CHECK_EXTENSION", // 4.4
        "KVM_GET_VCPU_MMAP_SIZE", // 4.5
        "KVM_SET_MEMORY_REGION", // 4.6
        "KVM_CREATE_VCPU", // 4.7
        "KVM_GET_DIRTY_LOG", // 4.8
        "KVM_SET_MEMORY_ALIAS", // 4.9
        "KVM_RUN", // 4.10
        "KVM_GET_REGS", // 4.11
        "KVM_SET_REGS", // 4.12
        "KVM_GET_SREGS", // 4.13
        "KVM_SET_SREGS", // 4.14
        "KVM_TRANSLATE", // 4.15
        "KVM_INTERRUPT", // 4.16
        "KVM_DEBUG_GUEST", // 4.17
        "KVM_GET_MSRS", // 4.18
        "KVM_SET_MSRS", // 4.19
        "KVM_SET_CPUID", // 4.20
        "KVM_SET_SIGNAL_MASK", // 4.21
        "KVM_GET_FPU", // 4.22
        "KVM_SET_FPU", // 4.23
        "KVM_CREATE_IRQCHIP", // 4.24
        "KVM_IRQ_LINE", // 4.25
        "KVM_GET_IRQCHIP", // 4.26
        "KVM_SET_IRQCHIP", // 4.27
        "KVM_XEN_HVM_CONFIG", // 4.28
        "KVM_GET_CLOCK", // 4.29
        "KVM_SET_CLOCK", // 4.30
        "KVM_GET_VCPU_EVENTS", // 4.31
        "KVM_SET_VCPU_EVENTS", // 4.32
        "KVM_GET_DEBUGREGS", // 4.33
        "KVM_SET_DEBUGREGS", // 4.34
        "KVM_SET_USER_MEMORY_REGION", // 4.35
        "KVM_SET_TSS_ADDR", // 4.36
        "KVM_ENABLE_CAP", // 4.37
        "KVM_GET_MP_STATE", // 4.38
        "KVM_SET_MP_STATE", // 4.39
        "KVM_SET_IDENTITY_MAP_ADDR", // 4.40
        "KVM_SET_BOOT_CPU_ID", // 4.41
        "KVM_GET_XSAVE", // 4.42
        "KVM_SET_XSAVE", // 4.43
        "KVM_GET_XCRS", // 4.44
        "KVM_SET_XCRS", // 4.45
        "KVM_GET_SUPPORTED_CPUID", // 4.46
        "KVM_PPC_GET_PVINFO", // 4.47
        "KVM_ASSIGN_PCI_DEVICE", // 4.48
        "KVM_DEASSIGN_PCI_DEVICE", // 4.49
        "KVM_ASSIGN_DEV_IRQ", // 4.50
        "KVM_DEASSIGN_DEV_IRQ", // 4.51
        "KVM_SET_GSI_ROUTING", // 4.52
        "KVM_ASSIGN_SET_MSIX_NR", // 4.53
        "KVM_ASSIGN_SET_MSIX_ENTRY", // 4.54
        "KVM_SET_TSC_KHZ", // 4.55
        "KVM_GET_TSC_KHZ", // 4.56
        "KVM_GET_LAPIC", // 4.57
        "KVM_SET_LAPIC", // 4.58
        "KVM_IOEVENTFD", // 4.59
        "KVM_DIRTY_TLB", // 4.60
        "KVM_ASSIGN_SET_INTX_MASK", // 4.61
        "KVM_CREATE_SPAPR_TCE", // 4.62
        "KVM_ALLOCATE_RMA", // 4.63
        "KVM_NMI", // 4.64
        "KVM_S390_UCAS_MAP", // 4.65
        "KVM_S390_UCAS_UNMAP", // 4.66
        "KVM_S390_VCPU_FAULT", // 4.67
        "KVM_SET_ONE_REG", // 4.68
        "KVM_GET_ONE_REG", // 4.69
        "KVM_KVMCLOCK_CTRL", // 4.70
        "KVM_SIGNAL_MSI", // 4.71
    ];

    [Fact]
    public void Every_ioctl_the_2012_API_document_describes_has_a_request_number()
    {
        var declared = typeof(KvmIoctls).GetFields().Select(f => f.Name).ToHashSet();
        var missing = Sections2012.Where(name => !declared.Contains(name)).ToList();
        Assert.True(missing.Count == 0, "missing from KvmIoctls: " + string.Join(", ", missing));
        Assert.Equal(71, Sections2012.Length);
    }
}
