using System.Reflection;
using KvmSharp.Abi;

namespace KvmSharp.Tests;

/// <summary>
/// Every ioctl of the KVM API document (sections 4.1–4.71 of the 2012
/// revision) either has its typed method, or is one a current x86-64 kernel
/// does not implement — and then both kernels refuse it the same way.
/// </summary>
public class ApiCoverageTests
{
    private static readonly string[] DocumentedIoctls =
    [
        "KVM_GET_API_VERSION", "KVM_CREATE_VM", "KVM_GET_MSR_INDEX_LIST", "KVM_CHECK_EXTENSION", "KVM_GET_VCPU_MMAP_SIZE",
        "KVM_SET_MEMORY_REGION", "KVM_CREATE_VCPU", "KVM_GET_DIRTY_LOG", "KVM_SET_MEMORY_ALIAS", "KVM_RUN", "KVM_GET_REGS",
        "KVM_SET_REGS", "KVM_GET_SREGS", "KVM_SET_SREGS", "KVM_TRANSLATE", "KVM_INTERRUPT", "KVM_DEBUG_GUEST", "KVM_GET_MSRS",
        "KVM_SET_MSRS", "KVM_SET_CPUID", "KVM_SET_SIGNAL_MASK", "KVM_GET_FPU", "KVM_SET_FPU", "KVM_CREATE_IRQCHIP",
        "KVM_IRQ_LINE", "KVM_GET_IRQCHIP", "KVM_SET_IRQCHIP", "KVM_XEN_HVM_CONFIG", "KVM_GET_CLOCK", "KVM_SET_CLOCK",
        "KVM_GET_VCPU_EVENTS", "KVM_SET_VCPU_EVENTS", "KVM_GET_DEBUGREGS", "KVM_SET_DEBUGREGS", "KVM_SET_USER_MEMORY_REGION",
        "KVM_SET_TSS_ADDR", "KVM_ENABLE_CAP", "KVM_GET_MP_STATE", "KVM_SET_MP_STATE", "KVM_SET_IDENTITY_MAP_ADDR",
        "KVM_SET_BOOT_CPU_ID", "KVM_GET_XSAVE", "KVM_SET_XSAVE", "KVM_GET_XCRS", "KVM_SET_XCRS", "KVM_GET_SUPPORTED_CPUID",
        "KVM_PPC_GET_PVINFO", "KVM_ASSIGN_PCI_DEVICE", "KVM_DEASSIGN_PCI_DEVICE", "KVM_ASSIGN_DEV_IRQ", "KVM_DEASSIGN_DEV_IRQ",
        "KVM_SET_GSI_ROUTING", "KVM_ASSIGN_SET_MSIX_NR", "KVM_ASSIGN_SET_MSIX_ENTRY", "KVM_SET_TSC_KHZ", "KVM_GET_TSC_KHZ",
        "KVM_GET_LAPIC", "KVM_SET_LAPIC", "KVM_IOEVENTFD", "KVM_DIRTY_TLB", "KVM_ASSIGN_SET_INTX_MASK", "KVM_CREATE_SPAPR_TCE",
        "KVM_ALLOCATE_RMA", "KVM_NMI", "KVM_S390_UCAS_MAP", "KVM_S390_UCAS_UNMAP", "KVM_S390_VCPU_FAULT", "KVM_SET_ONE_REG",
        "KVM_GET_ONE_REG", "KVM_KVMCLOCK_CTRL", "KVM_SIGNAL_MSI",
    ];

    /// <summary>Ioctls x86-64 KVM does not implement: removed from Linux, or another architecture's. Handle kind: system, vm or vcpu.</summary>
    private static readonly (string Ioctl, string Handle, string Why)[] NotOnX86 =
    [
        // Removed: the document says so; the typed API keeps KVM_SET_MEMORY_REGION only to show the refusal.
        ("KVM_SET_MEMORY_ALIAS", "vm", "removed in Linux 2.6.36"),
        ("KVM_DEBUG_GUEST", "vcpu", "removed; KVM_SET_GUEST_DEBUG replaced it"),
        // PCI device assignment was removed in Linux 4.12 in favour of VFIO.
        ("KVM_ASSIGN_PCI_DEVICE", "vm", "device assignment removed in Linux 4.12"),
        ("KVM_DEASSIGN_PCI_DEVICE", "vm", "device assignment removed in Linux 4.12"),
        ("KVM_ASSIGN_DEV_IRQ", "vm", "device assignment removed in Linux 4.12"),
        ("KVM_DEASSIGN_DEV_IRQ", "vm", "device assignment removed in Linux 4.12"),
        ("KVM_ASSIGN_SET_MSIX_NR", "vm", "device assignment removed in Linux 4.12"),
        ("KVM_ASSIGN_SET_MSIX_ENTRY", "vm", "device assignment removed in Linux 4.12"),
        ("KVM_ASSIGN_SET_INTX_MASK", "vm", "device assignment removed in Linux 4.12"),
        // Other architectures.
        ("KVM_PPC_GET_PVINFO", "vm", "PowerPC"),
        ("KVM_CREATE_SPAPR_TCE", "vm", "PowerPC"),
        ("KVM_ALLOCATE_RMA", "vm", "PowerPC"),
        ("KVM_DIRTY_TLB", "vcpu", "PowerPC e500"),
        ("KVM_S390_UCAS_MAP", "vcpu", "s390"),
        ("KVM_S390_UCAS_UNMAP", "vcpu", "s390"),
        ("KVM_S390_VCPU_FAULT", "vcpu", "s390"),
        ("KVM_SET_ONE_REG", "vcpu", "ARM, PowerPC, s390 and RISC-V only"),
        ("KVM_GET_ONE_REG", "vcpu", "ARM, PowerPC, s390 and RISC-V only"),
    ];

    [Fact]
    public void EveryDocumentedIoctlHasATypedMethodOrIsNotAnX86One()
    {
        var typed = typeof(Kvm).Assembly.GetTypes()
            .SelectMany(t => t.GetMethods(BindingFlags.Public | BindingFlags.Instance | BindingFlags.Static))
            .SelectMany(m => m.GetCustomAttributes<KvmIoctlAttribute>())
            .Select(a => a.Name).ToHashSet();
        var notOnX86 = NotOnX86.Select(row => row.Ioctl).ToHashSet();

        Assert.Equal(71, DocumentedIoctls.Length);
        Assert.DoesNotContain(DocumentedIoctls, name => !typed.Contains(name) && !notOnX86.Contains(name));
        Assert.DoesNotContain(notOnX86, typed.Contains);
        // Every name a method claims is a real request number in Abi.
        Assert.DoesNotContain(typed, name => typeof(KvmIoctls).GetField(name) is null);
    }

    public static TheoryData<string, string, string, string> NotOnX86ByKernel
    {
        get
        {
            var data = new TheoryData<string, string, string, string>();
            foreach (string kernel in Kernels.Names)
                foreach (var row in NotOnX86)
                    data.Add(kernel, row.Ioctl, row.Handle, row.Why);
            return data;
        }
    }

    [Theory]
    [MemberData(nameof(NotOnX86ByKernel))]
    public void IoctlsX86DoesNotImplementAreRefusedWithTheHandlesUnknownRequestErrno(string kernel, string ioctl, string handleKind, string why)
    {
        _ = why;
        using var kvm = Kernels.Open(kernel);
        using var vm = kvm.CreateVm();
        using var vcpu = vm.CreateVcpu(0);
        ulong request = (ulong)typeof(KvmIoctls).GetField(ioctl)!.GetValue(null)!;
        var buffer = new byte[4096]; // Room for any argument, should a kernel read one.
        unsafe
        {
            fixed (byte* arg = buffer)
            {
                int result = handleKind == "vm" ? vm.Handle.Ioctl(request, (nint)arg) : vcpu.Handle.Ioctl(request, (nint)arg);
                // A VM answers ENOTTY for what it does not know, a vCPU EINVAL (see UnknownIoctlTests).
                Assert.Equal(handleKind == "vm" ? -(int)Errno.ENOTTY : -(int)Errno.EINVAL, result);
            }
        }
        Assert.All(buffer, b => Assert.Equal(0, b)); // Nothing was written back.
    }
}
