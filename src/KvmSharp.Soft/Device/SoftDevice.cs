using KvmSharp.Abi;
using KvmSharp.Soft.Handles;
using KvmSharp.Soft.Vm;
using KvmSharp.Soft.Model;
using static KvmSharp.Abi.KvmIoctls;

namespace KvmSharp.Soft.Device;

/// <summary>The Soft equivalent of the /dev/kvm descriptor: system ioctls.</summary>
internal sealed unsafe class SoftDevice(SoftFdTable fds) : SoftObject
{
    public override int Ioctl(ulong request, nint arg)
    {
        if (request == KVM_GET_API_VERSION)
            return KvmConstants.KVM_API_VERSION;
        if (request == KVM_CHECK_EXTENSION)
            return SoftCapabilities.Check((KvmCap)arg);
        if (request == KVM_GET_VCPU_MMAP_SIZE)
            return SoftLimits.VcpuMmapPages * SoftLimits.PageSize;
        if (request == KVM_CREATE_VM)
            return CreateVm(arg);
        if (request == KVM_GET_MSR_INDEX_LIST)
            return CopyIndexList((KvmMsrList*)arg, CpuModel.SavedMsrs);
        if (request == KVM_GET_MSR_FEATURE_INDEX_LIST)
            return CopyIndexList((KvmMsrList*)arg, []);
        if (request == KVM_GET_MSRS)
            return ReadFeatureMsrs((KvmMsrs*)arg);
        if (request == KVM_GET_SUPPORTED_CPUID || request == KVM_GET_EMULATED_CPUID)
            return CopyCpuid((KvmCpuid2*)arg, request == KVM_GET_SUPPORTED_CPUID ? CpuModel.SupportedCpuid : []);
        // x86 KVM answers EINVAL for a system ioctl it does not know (kvm_arch_dev_ioctl).
        return -(int)Errno.EINVAL;
    }

    private int CreateVm(nint type)
    {
        // x86 defines only the default machine type 0.
        if (type != 0)
            return -(int)Errno.EINVAL;
        return fds.Add(new SoftVm(fds), "kvmsharp-soft-vm");
    }

    /// <summary>KVM's contract: the needed count is written back even when the buffer is too small (E2BIG).</summary>
    private static int CopyIndexList(KvmMsrList* list, uint[] indices)
    {
        if (!UserMemory.IsAccessible((nint)list, sizeof(KvmMsrList)))
            return -(int)Errno.EFAULT;
        uint room = list->Nmsrs;
        list->Nmsrs = (uint)indices.Length;
        if (room < indices.Length)
            return -(int)Errno.E2BIG;
        var destination = (uint*)((byte*)list + sizeof(KvmMsrList));
        if (!UserMemory.IsAccessible((nint)destination, indices.Length * sizeof(uint)))
            return -(int)Errno.EFAULT;
        indices.CopyTo(new Span<uint>(destination, indices.Length));
        return 0;
    }

    /// <summary>KVM_GET_MSRS on the system handle: feature MSRs, in order until one Soft does not have (it has none yet).</summary>
    private static int ReadFeatureMsrs(KvmMsrs* header)
    {
        if (!UserMemory.IsAccessible((nint)header, sizeof(KvmMsrs)))
            return -(int)Errno.EFAULT;
        if (header->Nmsrs >= 256)
            return -(int)Errno.E2BIG;
        return 0;
    }

    /// <summary>KVM_GET_SUPPORTED_CPUID: E2BIG for fewer than one entry or fewer than needed; nent becomes the count.</summary>
    internal static int CopyCpuid(KvmCpuid2* header, ReadOnlySpan<KvmCpuidEntry2> entries)
    {
        if (!UserMemory.IsAccessible((nint)header, sizeof(KvmCpuid2)))
            return -(int)Errno.EFAULT;
        uint room = Math.Min(header->Nent, (uint)SoftLimits.MaxCpuidEntries);
        if (room < 1 || room < entries.Length)
            return -(int)Errno.E2BIG;
        var destination = (KvmCpuidEntry2*)((byte*)header + sizeof(KvmCpuid2));
        if (!UserMemory.IsAccessible((nint)destination, entries.Length * sizeof(KvmCpuidEntry2)))
            return -(int)Errno.EFAULT;
        entries.CopyTo(new Span<KvmCpuidEntry2>(destination, entries.Length));
        header->Nent = (uint)entries.Length;
        return 0;
    }
}
