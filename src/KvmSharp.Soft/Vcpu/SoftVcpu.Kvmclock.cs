using System.Buffers.Binary;
using KvmSharp.Abi;
using KvmSharp.Soft.Cpu;
using KvmSharp.Soft.Model;

namespace KvmSharp.Soft.Vcpu;

// kvmclock: the paravirtual clock MSRs, the pvclock_vcpu_time_info page the
// guest reads, KVM_KVMCLOCK_CTRL, and the Xen hypercall-page MSR that
// KVM_XEN_HVM_CONFIG names. Layouts and protocol follow the KVM document
// (Documentation/virt/kvm/x86/msr.rst).
internal sealed unsafe partial class SoftVcpu
{
    /// <summary>struct pvclock_vcpu_time_info: 32 bytes.</summary>
    private const int TimeInfoSize = 32;
    private const int TimeInfoVersion = 0, TimeInfoTscTimestamp = 8, TimeInfoSystemTime = 16, TimeInfoMul = 24,
        TimeInfoShift = 28, TimeInfoFlags = 29;
    public const byte PvclockTscStable = 1 << 0, PvclockGuestStopped = 1 << 1;

    /// <summary>MSR_KVM_SYSTEM_TIME(_NEW) as last written: the page's address with bit 0 = enabled.</summary>
    private ulong _systemTimeMsr;
    private bool _systemTimeIsLegacy;
    private volatile bool _kvmclockUpdateRequested;
    private volatile bool _guestStoppedRequested;
    private long _publishedTscOffset;

    private bool KvmclockEnabled => (_systemTimeMsr & 1) != 0;

    /// <summary>The paravirtual MSRs this vCPU serves; false when <paramref name="msr"/> is not one of them.</summary>
    private bool TryReadParavirtMsr(uint msr, out ulong value)
    {
        switch (msr)
        {
            case CpuModel.MsrKvmSystemTime or CpuModel.MsrKvmSystemTimeNew:
                value = _systemTimeMsr;
                return true;
            case CpuModel.MsrKvmWallClock or CpuModel.MsrKvmWallClockNew:
                value = _vm.WallClockMsr;
                return true;
            default:
                value = 0;
                return false;
        }
    }

    /// <summary>Null when <paramref name="msr"/> is not paravirtual; otherwise whether the write was accepted (false = #GP).</summary>
    private bool? TryWriteParavirtMsr(uint msr, ulong value, bool fromGuest)
    {
        if (_vm.XenHypercallMsr is uint xenMsr && msr == xenMsr)
            return _vm.WriteXenHypercallPage(value, longMode: (Cpu.Efer & X86.EferLma) != 0);
        switch (msr)
        {
            case CpuModel.MsrKvmSystemTime or CpuModel.MsrKvmSystemTimeNew:
                _systemTimeMsr = value;
                _systemTimeIsLegacy = msr == CpuModel.MsrKvmSystemTime;
                // The guest sees the page filled before its next instruction; a
                // host write takes effect at the next KVM_RUN, as with KVM.
                if (fromGuest)
                    PublishKvmclock();
                else
                    _kvmclockUpdateRequested = true;
                return true;
            case CpuModel.MsrKvmWallClock or CpuModel.MsrKvmWallClockNew:
                _vm.WriteWallClock(value);
                return true;
            default:
                return null;
        }
    }

    /// <summary>KVM_KVMCLOCK_CTRL: flags PVCLOCK_GUEST_STOPPED in the page at the next entry; EINVAL without kvmclock.</summary>
    private int KvmclockCtrl()
    {
        if (!KvmclockEnabled)
            return -(int)Errno.EINVAL;
        _guestStoppedRequested = true;
        _kvmclockUpdateRequested = true;
        return 0;
    }

    /// <summary>Asks for the page to be rewritten (the VM clock or the TSC rate moved); stops a running CPU to do it soon.</summary>
    public void RequestKvmclockUpdate()
    {
        if (!KvmclockEnabled)
            return;
        _kvmclockUpdateRequested = true;
        if (Volatile.Read(ref _inRun) != 0)
            Cpu.RequestStop();
    }

    /// <summary>On the vCPU thread, in KVM_RUN: rewrites the page if asked to, or if the guest moved its TSC.</summary>
    private void UpdateKvmclockIfNeeded()
    {
        if (_kvmclockUpdateRequested || (KvmclockEnabled && Cpu.TscOffset != _publishedTscOffset))
        {
            _kvmclockUpdateRequested = false;
            PublishKvmclock();
        }
    }

    /// <summary>
    /// Writes pvclock_vcpu_time_info: the VM clock at a TSC reading and the
    /// TSC-to-nanoseconds scale, bracketed by an odd then even version so a
    /// guest reading meanwhile retries. The guest's own GUEST_STOPPED bit is kept.
    /// </summary>
    private void PublishKvmclock()
    {
        if (!KvmclockEnabled)
            return;
        ulong address = _systemTimeMsr & ~1UL;
        ulong offsetInPage = address & (SoftLimits.PageSize - 1);
        // Like KVM, a structure that crosses a page or lies outside RAM is never written.
        if (offsetInPage + TimeInfoSize > SoftLimits.PageSize)
            return;
        byte* page = _vm.Memory.GetHostPage(address - offsetInPage, write: true);
        if (page == null)
            return;
        var info = new Span<byte>(page + offsetInPage, TimeInfoSize);
        uint version = BinaryPrimitives.ReadUInt32LittleEndian(info);
        if ((version & 1) != 0)
            version++;
        Volatile.Write(ref *(uint*)(page + offsetInPage), version + 1);
        Interlocked.MemoryBarrier();

        ulong tsc = Cpu.ReadTsc();
        long systemTime = _vm.KvmclockNanoseconds;
        var (multiplier, shift) = TscToNanosecondsScale(Cpu.TscFrequency);
        byte flags = (byte)(info[TimeInfoFlags] & PvclockGuestStopped);
        if (!_systemTimeIsLegacy)
            flags |= PvclockTscStable;
        if (_guestStoppedRequested)
        {
            flags |= PvclockGuestStopped;
            _guestStoppedRequested = false;
        }
        BinaryPrimitives.WriteUInt64LittleEndian(info[TimeInfoTscTimestamp..], tsc);
        BinaryPrimitives.WriteInt64LittleEndian(info[TimeInfoSystemTime..], systemTime);
        BinaryPrimitives.WriteUInt32LittleEndian(info[TimeInfoMul..], multiplier);
        info[TimeInfoShift] = (byte)shift;
        info[TimeInfoFlags] = flags;
        info[TimeInfoFlags + 1] = 0;
        info[TimeInfoFlags + 2] = 0;
        _publishedTscOffset = Cpu.TscOffset;

        Interlocked.MemoryBarrier();
        Volatile.Write(ref *(uint*)(page + offsetInPage), version + 2);
    }

    /// <summary>
    /// The pvclock scale for a TSC of <paramref name="tscHz"/>: nanoseconds =
    /// ((ticks shifted left by shift, or right if negative) × multiplier) >> 32,
    /// with the multiplier kept in [2^31, 2^32) for precision.
    /// </summary>
    public static (uint Multiplier, sbyte Shift) TscToNanosecondsScale(long tscHz)
    {
        // ratio = 1e9 / tscHz, brought into [0.5, 1) by powers of two.
        int shift = 0;
        UInt128 numerator = 1_000_000_000, denominator = (ulong)tscHz;
        while (numerator >= denominator)
        {
            denominator <<= 1;
            shift++;
        }
        while (numerator << 1 < denominator)
        {
            numerator <<= 1;
            shift--;
        }
        return ((uint)((numerator << 32) / denominator), (sbyte)shift);
    }
}
