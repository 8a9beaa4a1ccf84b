using System.Runtime.InteropServices;
using KvmSharp.Abi;
using KvmSharp.Kernel;
using static KvmSharp.Abi.KvmIoctls;

namespace KvmSharp;

/// <summary>
/// The KVM subsystem (the handle that open("/dev/kvm") gives): system ioctls,
/// and the factory of virtual machines. Works the same on every kernel.
/// </summary>
public sealed unsafe class Kvm : IDisposable
{
    private Kvm(IKvmKernel kernel, KvmHandle handle)
    {
        Kernel = kernel;
        Handle = handle;
    }

    public IKvmKernel Kernel { get; }

    public KvmHandle Handle { get; }

    /// <summary>Opens the system handle of <paramref name="kernel"/> and checks the API version is 12, as the KVM document requires.</summary>
    public static Kvm Open(IKvmKernel kernel)
    {
        var handle = KvmHandle.Adopt(kernel, kernel.OpenSystem(), "open", () => $"the {kernel.Name} kernel's system handle");
        var kvm = new Kvm(kernel, handle);
        int version = kvm.GetApiVersion();
        if (version != KvmConstants.KVM_API_VERSION)
        {
            kvm.Dispose();
            throw new NotSupportedException($"The {kernel.Name} kernel speaks KVM API version {version}; KvmSharp needs version {KvmConstants.KVM_API_VERSION}.");
        }
        return kvm;
    }

    /// <summary>KVM_GET_API_VERSION.</summary>
    [KvmIoctl("KVM_GET_API_VERSION")]
    public int GetApiVersion() => Handle.Call(KVM_GET_API_VERSION, 0, nameof(KVM_GET_API_VERSION));

    /// <summary>KVM_CHECK_EXTENSION on the system handle: 0 when absent, else 1 or a capability-specific value.</summary>
    [KvmIoctl("KVM_CHECK_EXTENSION")]
    public int CheckExtension(KvmCap capability) =>
        Handle.Call(KVM_CHECK_EXTENSION, (nint)capability, nameof(KVM_CHECK_EXTENSION), () => $"capability {capability}");

    /// <summary>KVM_GET_VCPU_MMAP_SIZE: bytes to map from each vCPU handle.</summary>
    [KvmIoctl("KVM_GET_VCPU_MMAP_SIZE")]
    public int GetVcpuMmapSize() => Handle.Call(KVM_GET_VCPU_MMAP_SIZE, 0, nameof(KVM_GET_VCPU_MMAP_SIZE));

    /// <summary>KVM_CREATE_VM with the given machine type (0 on x86 for the default).</summary>
    [KvmIoctl("KVM_CREATE_VM")]
    public Vm CreateVm(ulong machineType = 0)
    {
        int fd = Handle.TryCall(KVM_CREATE_VM, (nint)machineType);
        var vmHandle = KvmHandle.Adopt(Kernel, fd, nameof(KVM_CREATE_VM), () => $"machine type {machineType}");
        return new Vm(this, vmHandle);
    }

    /// <summary>KVM_GET_MSR_INDEX_LIST: the MSRs the kernel saves and restores for a vCPU.</summary>
    [KvmIoctl("KVM_GET_MSR_INDEX_LIST")]
    public uint[] GetMsrIndexList() => GetIndexList(KVM_GET_MSR_INDEX_LIST, nameof(KVM_GET_MSR_INDEX_LIST));

    /// <summary>KVM_GET_MSR_FEATURE_INDEX_LIST: the feature MSRs readable with <see cref="GetFeatureMsrs"/>.</summary>
    [KvmIoctl("KVM_GET_MSR_FEATURE_INDEX_LIST")]
    public uint[] GetMsrFeatureIndexList() => GetIndexList(KVM_GET_MSR_FEATURE_INDEX_LIST, nameof(KVM_GET_MSR_FEATURE_INDEX_LIST));

    /// <summary>
    /// The raw variable-length call: writes at most <paramref name="indices"/>.Length
    /// entries and returns how many the kernel has. Fails with E2BIG (the count is
    /// still reported through <paramref name="required"/>) when the span is too short.
    /// </summary>
    public int GetMsrIndexList(Span<uint> indices, out int required) =>
        TryGetIndexList(KVM_GET_MSR_INDEX_LIST, nameof(KVM_GET_MSR_INDEX_LIST), indices, out required);

    private uint[] GetIndexList(ulong request, string name)
    {
        // Ask with room for nothing: the kernel answers E2BIG with the count it needs.
        TryGetIndexList(request, name, Span<uint>.Empty, out int required, throwOnTooBig: false);
        var indices = new uint[required];
        TryGetIndexList(request, name, indices, out _);
        return indices;
    }

    private int TryGetIndexList(ulong request, string name, Span<uint> indices, out int required, bool throwOnTooBig = true)
    {
        int result = CountedArgument.Exchange<KvmMsrList, uint>(Handle, request, indices, out required);
        if (result == -(int)Errno.E2BIG && !throwOnTooBig)
            return 0;
        int kernelCount = required, room = indices.Length;
        KvmHandle.Check(result, name, () => $"room for {room} indices (the kernel has {kernelCount})");
        return required;
    }

    /// <summary>KVM_GET_SUPPORTED_CPUID: the CPUID leaves the kernel can present to a guest.</summary>
    [KvmIoctl("KVM_GET_SUPPORTED_CPUID")]
    public KvmCpuidEntry2[] GetSupportedCpuid() => GetCpuidList(KVM_GET_SUPPORTED_CPUID, nameof(KVM_GET_SUPPORTED_CPUID));

    /// <summary>KVM_GET_EMULATED_CPUID: the CPUID features the kernel emulates.</summary>
    [KvmIoctl("KVM_GET_EMULATED_CPUID")]
    public KvmCpuidEntry2[] GetEmulatedCpuid() => GetCpuidList(KVM_GET_EMULATED_CPUID, nameof(KVM_GET_EMULATED_CPUID));

    /// <summary>The raw call: fills <paramref name="entries"/> and returns how many the kernel wrote; E2BIG when too short.</summary>
    public int GetSupportedCpuid(Span<KvmCpuidEntry2> entries) =>
        CpuidCall(KVM_GET_SUPPORTED_CPUID, nameof(KVM_GET_SUPPORTED_CPUID), entries, throwOnTooBig: true);

    private KvmCpuidEntry2[] GetCpuidList(ulong request, string name)
    {
        // The kernel does not report the size it needs; grow until it fits.
        for (int capacity = 64; ; capacity *= 2)
        {
            var entries = new KvmCpuidEntry2[capacity];
            int count = CpuidCall(request, name, entries, throwOnTooBig: capacity >= 4096);
            if (count >= 0)
                return entries.AsSpan(0, count).ToArray();
        }
    }

    internal static int CpuidCall(KvmHandle handle, ulong request, string name, Span<KvmCpuidEntry2> entries, bool throwOnTooBig)
    {
        int result = CountedArgument.Exchange<KvmCpuid2, KvmCpuidEntry2>(handle, request, entries, out int count);
        if (result == -(int)Errno.E2BIG && !throwOnTooBig)
            return -1;
        int room = entries.Length;
        KvmHandle.Check(result, name, () => $"room for {room} CPUID entries");
        return count;
    }

    private int CpuidCall(ulong request, string name, Span<KvmCpuidEntry2> entries, bool throwOnTooBig) =>
        CpuidCall(Handle, request, name, entries, throwOnTooBig);

    /// <summary>KVM_GET_MSRS on the system handle: reads feature MSRs; returns how many were read.</summary>
    [KvmIoctl("KVM_GET_MSRS")]
    public int GetFeatureMsrs(Span<KvmMsrEntry> entries) => Vcpu.MsrCall(Handle, KVM_GET_MSRS, nameof(KVM_GET_MSRS), entries);

    /// <summary>KVM_X86_GET_MCE_CAP_SUPPORTED: the MCG_CAP bits the kernel supports.</summary>
    [KvmIoctl("KVM_X86_GET_MCE_CAP_SUPPORTED")]
    public ulong GetMceCapSupported()
    {
        ulong value = 0;
        Handle.Call(KVM_X86_GET_MCE_CAP_SUPPORTED, (nint)(&value), nameof(KVM_X86_GET_MCE_CAP_SUPPORTED));
        return value;
    }

    public void Dispose() => Handle.Dispose();
}
