using System.Buffers.Binary;
using KvmSharp.Abi;
using KvmSharp.Soft.Handles;
using KvmSharp.Soft.Model;
using KvmSharp.Soft.Platform;

namespace KvmSharp.Soft.Vm;

// The VM-wide clock state: kvmclock (KVM_GET/SET_CLOCK), the wall-clock MSR's
// page, and KVM_XEN_HVM_CONFIG's hypercall-page blobs.
internal sealed unsafe partial class SoftVm
{
    private const int WallClockSize = 12;

    private long _clockOffsetNanoseconds;
    private ulong _wallClockMsr;
    private KvmXenHvmConfig? _xenConfig;

    /// <summary>kvmclock now: the host's monotonic nanoseconds plus the offset KVM_SET_CLOCK moves.</summary>
    public long KvmclockNanoseconds => MonotonicClock.Instance.Nanoseconds + Interlocked.Read(ref _clockOffsetNanoseconds);

    /// <summary>MSR_KVM_WALL_CLOCK(_NEW) as last written; one value per VM, as in KVM.</summary>
    public ulong WallClockMsr => Volatile.Read(ref _wallClockMsr);

    /// <summary>The MSR KVM_XEN_HVM_CONFIG named for the hypercall page, if any.</summary>
    public uint? XenHypercallMsr => _xenConfig is { Msr: not 0 } config ? config.Msr : null;

    private KvmClockData GetClock() => new()
    {
        Clock = (ulong)KvmclockNanoseconds,
        Flags = KvmConstants.KVM_CLOCK_TSC_STABLE,
    };

    private int SetClock(KvmClockData* data)
    {
        if (!UserMemory.IsAccessible((nint)data, sizeof(KvmClockData)))
            return -(int)Errno.EFAULT;
        if ((data->Flags & ~(KvmConstants.KVM_CLOCK_REALTIME)) != 0)
            return -(int)Errno.EINVAL;
        Interlocked.Exchange(ref _clockOffsetNanoseconds, (long)data->Clock - MonotonicClock.Instance.Nanoseconds);
        // Every guest's pvclock page now maps its TSC to the wrong time.
        foreach (var vcpu in Vcpus)
            vcpu.RequestKvmclockUpdate();
        return 0;
    }

    /// <summary>
    /// Writes pvclock_wall_clock at the MSR's address: the host's real time at
    /// which kvmclock read 0, between an odd and an even version.
    /// </summary>
    public void WriteWallClock(ulong address)
    {
        Volatile.Write(ref _wallClockMsr, address);
        ulong offsetInPage = address & (SoftLimits.PageSize - 1);
        if (offsetInPage + WallClockSize > SoftLimits.PageSize)
            return;
        byte* page = Memory.GetHostPage(address - offsetInPage, write: true);
        if (page == null)
            return;
        var wall = new Span<byte>(page + offsetInPage, WallClockSize);
        uint version = BinaryPrimitives.ReadUInt32LittleEndian(wall);
        if ((version & 1) != 0)
            version++;
        Volatile.Write(ref *(uint*)(page + offsetInPage), version + 1);
        Interlocked.MemoryBarrier();
        long bootNanoseconds = (DateTime.UtcNow - DateTime.UnixEpoch).Ticks * 100 - KvmclockNanoseconds;
        BinaryPrimitives.WriteUInt32LittleEndian(wall[4..], (uint)(bootNanoseconds / 1_000_000_000));
        BinaryPrimitives.WriteUInt32LittleEndian(wall[8..], (uint)(bootNanoseconds % 1_000_000_000));
        Interlocked.MemoryBarrier();
        Volatile.Write(ref *(uint*)(page + offsetInPage), version + 2);
    }

    /// <summary>
    /// KVM_XEN_HVM_CONFIG: the MSR whose write copies page N of the 32- or
    /// 64-bit blob (by the writer's mode) to the guest page the value names.
    /// Soft offers only this (KVM_XEN_HVM_CONFIG_HYPERCALL_MSR); any flag is EINVAL.
    /// </summary>
    private int SetXenHvmConfig(KvmXenHvmConfig* config)
    {
        if (!UserMemory.IsAccessible((nint)config, sizeof(KvmXenHvmConfig)))
            return -(int)Errno.EFAULT;
        if (config->Flags != 0)
            return -(int)Errno.EINVAL;
        // KVM keeps the MSR in the range reserved for hypervisor MSRs, away from real ones.
        if (config->Msr != 0 && config->Msr is < 0x4000_0000 or > 0x4fff_ffff)
            return -(int)Errno.EINVAL;
        _xenConfig = *config;
        return 0;
    }

    /// <summary>The hypercall-page MSR write: false (a #GP, or a refused KVM_SET_MSRS) when the page number or blob is bad.</summary>
    public bool WriteXenHypercallPage(ulong value, bool longMode)
    {
        if (_xenConfig is not { } config)
            return false;
        ulong pageNumber = value & (SoftLimits.PageSize - 1);
        ulong guestPage = value & ~(ulong)(SoftLimits.PageSize - 1);
        ulong blob = longMode ? config.BlobAddr64 : config.BlobAddr32;
        byte blobPages = longMode ? config.BlobSize64 : config.BlobSize32;
        if (pageNumber >= blobPages)
            return false;
        nint source = (nint)(blob + pageNumber * SoftLimits.PageSize);
        if (!UserMemory.IsAccessible(source, SoftLimits.PageSize))
            return false;
        byte* destination = Memory.GetHostPage(guestPage, write: true);
        if (destination == null)
            return false;
        new ReadOnlySpan<byte>((void*)source, SoftLimits.PageSize).CopyTo(new Span<byte>(destination, SoftLimits.PageSize));
        return true;
    }
}
