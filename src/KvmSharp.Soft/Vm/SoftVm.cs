using KvmSharp.Abi;
using KvmSharp.Soft.Handles;
using KvmSharp.Soft.Model;
using KvmSharp.Soft.Vcpu;
using static KvmSharp.Abi.KvmIoctls;

namespace KvmSharp.Soft.Vm;

/// <summary>A Soft virtual machine: its memory map and its vCPUs, behind VM ioctls.</summary>
internal sealed unsafe partial class SoftVm(SoftFdTable fds) : SoftObject
{
    private readonly Dictionary<uint, SoftVcpu> _vcpus = new();
    private readonly Lock _lock = new();

    public MemoryMap Memory { get; } = new();

    public override int Ioctl(ulong request, nint arg)
    {
        if (request == KVM_SET_USER_MEMORY_REGION)
            return SetUserMemoryRegion((KvmUserspaceMemoryRegion*)arg);
        if (request == KVM_GET_DIRTY_LOG)
            return GetDirtyLog((KvmDirtyLog*)arg);
        if (request == KVM_CREATE_VCPU)
            return CreateVcpu(arg);
        if (request == KVM_CHECK_EXTENSION)
            return SoftCapabilities.Check((KvmCap)arg);
        if (request == KVM_SET_TSS_ADDR)
            return 0; // Needed by VMX for real mode; Soft has no use for the pages.
        if (request == KVM_ENABLE_CAP)
            return EnableCap.Refuse((KvmEnableCap*)arg);
        if (request == KVM_SET_IDENTITY_MAP_ADDR)
            return SetIdentityMapAddr((ulong*)arg);
        if (TryPlatformIoctl(request, arg, out int result))
            return result;
        // KVM answers ENOTTY for a VM ioctl it does not implement.
        return -(int)Errno.ENOTTY;
    }

    private int SetUserMemoryRegion(KvmUserspaceMemoryRegion* region)
    {
        if (!UserMemory.IsAccessible((nint)region, sizeof(KvmUserspaceMemoryRegion)))
            return -(int)Errno.EFAULT;
        int result = Memory.Set(*region);
        if (result == 0)
            SynchronizeVcpus();
        return result;
    }

    private int GetDirtyLog(KvmDirtyLog* log)
    {
        if (!UserMemory.IsAccessible((nint)log, sizeof(KvmDirtyLog)))
            return -(int)Errno.EFAULT;
        uint addressSpace = log->Slot >> 16, id = log->Slot & 0xffff;
        if (addressSpace != 0 || id >= SoftLimits.MemorySlots)
            return -(int)Errno.EINVAL;
        if (Memory.FindById(log->Slot) is not { DirtyBitmap: { } bitmap })
            return -(int)Errno.ENOENT;
        var destination = (ulong*)log->DirtyBitmap;
        if (!UserMemory.IsAccessible((nint)destination, bitmap.Length * sizeof(ulong)))
            return -(int)Errno.EFAULT;
        // Take and clear the bits, then make every vCPU refill its TLB so the next
        // write to each page marks it again. A write through a stale entry before
        // that completes is to a page already in this snapshot.
        var snapshot = new ulong[bitmap.Length];
        for (int i = 0; i < bitmap.Length; i++)
            snapshot[i] = Interlocked.Exchange(ref bitmap[i], 0);
        SynchronizeVcpus();
        snapshot.CopyTo(new Span<ulong>(destination, snapshot.Length));
        return 0;
    }

    private int CreateVcpu(nint id)
    {
        if ((ulong)id >= SoftLimits.MaxVcpus)
            return -(int)Errno.EINVAL;
        lock (_lock)
        {
            if (_vcpus.ContainsKey((uint)id))
                return -(int)Errno.EEXIST;
            var vcpu = new SoftVcpu(this, (uint)id);
            AttachPlatform(vcpu);
            int fd = fds.Add(vcpu, $"kvmsharp-soft-vcpu{id}", SoftLimits.VcpuMmapPages * SoftLimits.PageSize);
            if (fd < 0)
                return fd;
            int mapped = vcpu.MapRunBlock(fd);
            if (mapped < 0)
            {
                fds.Close(fd);
                return mapped;
            }
            _vcpus.Add((uint)id, vcpu);
            _identityMapLocked = true;
            return fd;
        }
    }

    private bool _identityMapLocked;

    /// <summary>The vCPUs made so far, as a snapshot.</summary>
    public SoftVcpu[] Vcpus
    {
        get
        {
            lock (_lock)
                return _vcpus.Values.ToArray();
        }
    }

    /// <summary>Whether any vCPU exists yet (some VM settings are frozen then).</summary>
    private bool HasVcpus
    {
        get
        {
            lock (_lock)
                return _vcpus.Count > 0;
        }
    }

    private int SetIdentityMapAddr(ulong* address)
    {
        if (!UserMemory.IsAccessible((nint)address, sizeof(ulong)))
            return -(int)Errno.EFAULT;
        lock (_lock)
            return _identityMapLocked ? -(int)Errno.EINVAL : 0;
    }

    /// <summary>
    /// Makes every vCPU forget host pointers it took from the memory map, and
    /// waits until the running ones have, so a caller may free memory of a
    /// deleted slot as soon as the ioctl returns.
    /// </summary>
    public void SynchronizeVcpus()
    {
        SoftVcpu[] vcpus;
        lock (_lock)
            vcpus = _vcpus.Values.ToArray();
        var targets = new long[vcpus.Length];
        for (int i = 0; i < vcpus.Length; i++)
            targets[i] = vcpus[i].RequestMemoryResync();
        for (int i = 0; i < vcpus.Length; i++)
            vcpus[i].WaitForMemoryResync(targets[i]);
    }
}
