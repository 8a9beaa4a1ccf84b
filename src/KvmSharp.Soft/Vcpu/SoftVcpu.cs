using System.Runtime.InteropServices;
using KvmSharp.Abi;
using KvmSharp.Soft.Cpu;
using KvmSharp.Soft.Handles;
using KvmSharp.Soft.Model;
using KvmSharp.Soft.Vm;
using static KvmSharp.Abi.KvmIoctls;

namespace KvmSharp.Soft.Vcpu;

/// <summary>
/// A Soft vCPU: the software CPU, its kvm_run block (shared memory a caller
/// maps from the descriptor, as with KVM), and the vCPU ioctls.
/// </summary>
internal sealed unsafe partial class SoftVcpu : SoftObject
{
    private const int RunAreaSize = SoftLimits.VcpuMmapPages * SoftLimits.PageSize;

    private readonly SoftVm _vm;
    private int _fd = -1;
    private KvmRun* _run;

    public SoftVcpu(SoftVm vm, uint id)
    {
        _vm = vm;
        Id = id;
        // Writes retire before their exit is reported, reads on re-entry, as in
        // KVM's instruction emulator (see ExitStateTests for the evidence).
        Cpu = new X86Cpu(vm.Memory) { DeferOutRetire = false, DeferOutsRetire = false, DeferMmioWriteRetire = false };
        Cpu.UnknownMsrRead = ReadDeviceMsr;
        Cpu.UnknownMsrWrite = (msr, value) => WriteDeviceMsr(msr, value, fromGuest: true);
        ResetToKvmState();
    }

    public uint Id { get; }

    public X86Cpu Cpu { get; }

    /// <summary>Maps the descriptor's memory for Soft's own use: the kvm_run block lives there.</summary>
    public int MapRunBlock(int fd)
    {
        nint address = Native.Mmap(0, RunAreaSize, Native.PROT_READ | Native.PROT_WRITE, Native.MAP_SHARED, fd, 0);
        if (address == Native.MAP_FAILED)
            return -Marshal.GetLastPInvokeError();
        _fd = fd;
        _run = (KvmRun*)address;
        return 0;
    }

    public override nint Map(nuint length, out int errno)
    {
        if (length == 0 || length > RunAreaSize)
        {
            errno = (int)Errno.EINVAL;
            return 0;
        }
        nint address = Native.Mmap(0, length, Native.PROT_READ | Native.PROT_WRITE, Native.MAP_SHARED, _fd, 0);
        if (address == Native.MAP_FAILED)
        {
            errno = Marshal.GetLastPInvokeError();
            return 0;
        }
        errno = 0;
        return address;
    }

    public override void Release()
    {
        // The run area stays mapped for the rest of the process's life if a
        // caller still maps it: munmap of our own view does not affect theirs.
        if (_run != null)
            Native.Munmap((nint)_run, RunAreaSize);
        _run = null;
    }

    /// <summary>
    /// KVM's vcpu->mutex: every vCPU ioctl holds it, KVM_RUN for the whole run,
    /// so another thread's ioctl waits for the run to return and never sees
    /// half-executed state. x86 KVM has no asynchronous vCPU ioctls, so none skip
    /// it. Kicks do not need it: they write immediate_exit in the shared run
    /// block, which the run loop polls.
    /// </summary>
    private readonly Lock _ioctlLock = new();

    public override int Ioctl(ulong request, nint arg)
    {
        lock (_ioctlLock)
            return Dispatch(request, arg);
    }

    private int Dispatch(ulong request, nint arg)
    {
        if (request == KVM_RUN)
            return Run();
        if (request == KVM_GET_REGS)
            return Out(arg, GetRegs());
        if (request == KVM_SET_REGS)
            return In(arg, (in KvmRegs regs) => SetRegs(regs));
        if (request == KVM_GET_SREGS)
            return Out(arg, GetSregs());
        if (request == KVM_SET_SREGS)
            return In(arg, (in KvmSregs sregs) => SetSregs(sregs));
        if (request == KVM_GET_FPU)
            return Out(arg, GetFpu());
        if (request == KVM_SET_FPU)
            return In(arg, (in KvmFpu fpu) => SetFpu(fpu));
        if (request == KVM_GET_MSRS)
            return TransferMsrs((KvmMsrs*)arg, write: false);
        if (request == KVM_SET_MSRS)
            return TransferMsrs((KvmMsrs*)arg, write: true);
        if (request == KVM_SET_CPUID2)
            return SetCpuid2((KvmCpuid2*)arg);
        if (request == KVM_GET_CPUID2)
            return GetCpuid2((KvmCpuid2*)arg);
        if (request == KVM_SET_CPUID)
            return SetCpuid((KvmCpuid*)arg);
        if (request == KVM_GET_XCRS)
            return Out(arg, GetXcrs());
        if (request == KVM_SET_XCRS)
            return In(arg, (in KvmXcrs xcrs) => SetXcrs(xcrs));
        if (request == KVM_GET_XSAVE)
            return Out(arg, GetXsave());
        if (request == KVM_SET_XSAVE)
            return In(arg, (in KvmXsave xsave) => SetXsave(xsave));
        if (request == KVM_GET_DEBUGREGS)
            return Out(arg, GetDebugRegs());
        if (request == KVM_SET_DEBUGREGS)
            return In(arg, (in KvmDebugregs regs) => SetDebugRegs(regs));
        if (request == KVM_GET_VCPU_EVENTS)
            return Out(arg, GetVcpuEvents());
        if (request == KVM_SET_VCPU_EVENTS)
            return In(arg, (in KvmVcpuEvents events) => SetVcpuEvents(events));
        if (request == KVM_GET_MP_STATE)
            return Out(arg, GetMpState());
        if (request == KVM_SET_MP_STATE)
            return In(arg, (in KvmMpStateArg state) => SetMpStateWithIrqchip(state.MpState));
        if (request == KVM_TPR_ACCESS_REPORTING)
            return TprAccessReporting((KvmTprAccessCtl*)arg);
        if (request == KVM_SET_VAPIC_ADDR)
            return SetVapicAddr((KvmVapicAddr*)arg);
        if (request == KVM_GET_LAPIC)
            return GetLapic(arg);
        if (request == KVM_SET_LAPIC)
            return SetLapic(arg);
        if (request == KVM_TRANSLATE)
            return Translate((KvmTranslation*)arg);
        if (request == KVM_INTERRUPT)
            return In(arg, (in KvmInterrupt interrupt) => QueueInterrupt(interrupt));
        if (request == KVM_NMI)
            return QueueNmi();
        if (request == KVM_GET_TSC_KHZ)
            return (int)(Cpu.TscFrequency / 1000);
        if (request == KVM_SET_TSC_KHZ)
            return SetTscKhz((ulong)arg);
        if (request == KVM_SET_GUEST_DEBUG)
            return In(arg, (in KvmGuestDebug debug) => SetGuestDebug(debug));
        if (request == KVM_ENABLE_CAP)
            return EnableCap.Refuse((KvmEnableCap*)arg);
        if (request == KVM_KVMCLOCK_CTRL)
            return KvmclockCtrl();
        if (request == KVM_SET_SIGNAL_MASK)
            return SetSignalMask((KvmSignalMask*)arg);
        // x86 KVM answers EINVAL for a vCPU ioctl it does not know (kvm_arch_vcpu_ioctl).
        return -(int)Errno.EINVAL;
    }

    private delegate int Setter<T>(in T value) where T : unmanaged;

    /// <summary>Copies a result to the caller's struct, or EFAULT if it cannot be written.</summary>
    private static int Out<T>(nint arg, in T value) where T : unmanaged
    {
        if (!UserMemory.IsAccessible(arg, sizeof(T)))
            return -(int)Errno.EFAULT;
        *(T*)arg = value;
        return 0;
    }

    /// <summary>Reads the caller's struct (EFAULT if it cannot be read) and applies it.</summary>
    private static int In<T>(nint arg, Setter<T> apply) where T : unmanaged
    {
        if (!UserMemory.IsAccessible(arg, sizeof(T)))
            return -(int)Errno.EFAULT;
        T copy = *(T*)arg;
        return apply(copy);
    }
}
