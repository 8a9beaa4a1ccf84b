using KvmSharp.Abi;
using KvmSharp.Soft.Cpu;
using KvmSharp.Soft.Handles;

namespace KvmSharp.Soft.Vcpu;

// Debug registers, pending events, MP state, translation, interrupts and guest debugging.
internal sealed unsafe partial class SoftVcpu
{
    /// <summary>The signal mask KVM_SET_SIGNAL_MASK installed (8 bytes), or null.</summary>
    public byte[]? SignalMask { get; private set; }

    private KvmDebugregs GetDebugRegs()
    {
        var regs = new KvmDebugregs { Dr6 = Cpu.Dr6, Dr7 = Cpu.Dr7 };
        regs.Db[0] = Cpu.Dr0;
        regs.Db[1] = Cpu.Dr1;
        regs.Db[2] = Cpu.Dr2;
        regs.Db[3] = Cpu.Dr3;
        return regs;
    }

    private int SetDebugRegs(in KvmDebugregs regs)
    {
        // DR6 and DR7 are 32-bit registers; flags must be zero.
        if (regs.Flags != 0 || (regs.Dr6 >> 32) != 0 || (regs.Dr7 >> 32) != 0)
            return -(int)Errno.EINVAL;
        Cpu.Dr0 = regs.Db[0];
        Cpu.Dr1 = regs.Db[1];
        Cpu.Dr2 = regs.Db[2];
        Cpu.Dr3 = regs.Db[3];
        Cpu.Dr6 = regs.Dr6;
        Cpu.Dr7 = regs.Dr7;
        return 0;
    }

    private KvmVcpuEvents GetVcpuEvents()
    {
        var events = new KvmVcpuEvents
        {
            Flags = KvmConstants.KVM_VCPUEVENT_VALID_SHADOW | KvmConstants.KVM_VCPUEVENT_VALID_SMM,
        };
        if (Cpu.PendingExceptionVector >= 0)
        {
            events.Exception.Injected = 1;
            events.Exception.Nr = (byte)Cpu.PendingExceptionVector;
            events.Exception.HasErrorCode = Cpu.PendingExceptionHasErrorCode ? (byte)1 : (byte)0;
            events.Exception.ErrorCode = Cpu.PendingExceptionErrorCode;
        }
        if (Cpu.PendingInterruptVector >= 0)
        {
            events.Interrupt.Injected = 1;
            events.Interrupt.Nr = (byte)Cpu.PendingInterruptVector;
        }
        events.Interrupt.Shadow = Cpu.InterruptShadow;
        events.Nmi.Pending = Cpu.NmiPending ? (byte)1 : (byte)0;
        events.Nmi.Masked = Cpu.NmiMasked ? (byte)1 : (byte)0;
        return events;
    }

    private int SetVcpuEvents(in KvmVcpuEvents events)
    {
        const uint validFlags = KvmConstants.KVM_VCPUEVENT_VALID_NMI_PENDING | KvmConstants.KVM_VCPUEVENT_VALID_SIPI_VECTOR
            | KvmConstants.KVM_VCPUEVENT_VALID_SHADOW | KvmConstants.KVM_VCPUEVENT_VALID_SMM
            | KvmConstants.KVM_VCPUEVENT_VALID_PAYLOAD | KvmConstants.KVM_VCPUEVENT_VALID_TRIPLE_FAULT;
        if ((events.Flags & ~validFlags) != 0)
            return -(int)Errno.EINVAL;
        // Without KVM_CAP_EXCEPTION_PAYLOAD enabled, payloads and pending exceptions are refused.
        if ((events.Flags & (KvmConstants.KVM_VCPUEVENT_VALID_PAYLOAD | KvmConstants.KVM_VCPUEVENT_VALID_TRIPLE_FAULT)) != 0
            || events.Exception.Pending != 0)
            return -(int)Errno.EINVAL;
        if (events.Exception.Injected != 0 && (events.Exception.Nr > 31 || events.Exception.Nr == 2))
            return -(int)Errno.EINVAL;
        // Soft has no SMM: entering it cannot be honoured.
        if ((events.Flags & KvmConstants.KVM_VCPUEVENT_VALID_SMM) != 0 && (events.Smi.Smm != 0 || events.Smi.Pending != 0))
            return -(int)Errno.EINVAL;

        Cpu.PendingExceptionVector = events.Exception.Injected != 0 ? events.Exception.Nr : -1;
        Cpu.PendingExceptionHasErrorCode = events.Exception.HasErrorCode != 0;
        Cpu.PendingExceptionErrorCode = events.Exception.ErrorCode;
        Cpu.PendingInterruptVector = events.Interrupt.Injected != 0 ? events.Interrupt.Nr : -1;
        if ((events.Flags & KvmConstants.KVM_VCPUEVENT_VALID_SHADOW) != 0)
            Cpu.InterruptShadow = (byte)(events.Interrupt.Shadow & 3);
        if ((events.Flags & KvmConstants.KVM_VCPUEVENT_VALID_NMI_PENDING) != 0)
            Cpu.NmiPending = events.Nmi.Pending != 0;
        Cpu.NmiMasked = events.Nmi.Masked != 0;
        return 0;
    }

    private int Translate(KvmTranslation* translation)
    {
        if (!UserMemory.IsAccessible((nint)translation, sizeof(KvmTranslation)))
            return -(int)Errno.EFAULT;
        bool valid = Cpu.TryTranslate(translation->LinearAddress, out ulong physical, out _, out _);
        // KVM reports every translation as writable and supervisor, whatever the page says.
        translation->PhysicalAddress = valid ? physical : ulong.MaxValue;
        translation->Valid = valid ? (byte)1 : (byte)0;
        translation->Writeable = 1;
        translation->Usermode = 0;
        return 0;
    }

    private int QueueInterrupt(in KvmInterrupt interrupt)
    {
        if (interrupt.Irq >= KvmConstants.KVM_NR_INTERRUPTS)
            return -(int)Errno.EINVAL;
        // With an in-kernel PIC, external interrupts come from it, not from userspace.
        if (Apic is not null)
            return -(int)Errno.ENXIO;
        Cpu.PendingInterruptVector = (int)interrupt.Irq;
        return 0;
    }

    private int QueueNmi()
    {
        Cpu.NmiPending = true;
        return 0;
    }

    private int SetTscKhz(ulong khz)
    {
        // 0 selects the default rate; KVM caps the ratio to the host rate, Soft at 4 GHz × 32.
        if (khz >= 128_000_000)
            return -(int)Errno.EINVAL;
        Cpu.TscFrequency = khz == 0 ? 1_000_000_000 : (long)khz * 1000;
        RequestKvmclockUpdate();
        return 0;
    }

    private int SetGuestDebug(in KvmGuestDebug debug)
    {
        const uint validControl = KvmConstants.KVM_GUESTDBG_ENABLE | KvmConstants.KVM_GUESTDBG_SINGLESTEP
            | KvmConstants.KVM_GUESTDBG_USE_SW_BP | KvmConstants.KVM_GUESTDBG_USE_HW_BP
            | KvmConstants.KVM_GUESTDBG_INJECT_DB | KvmConstants.KVM_GUESTDBG_INJECT_BP;
        if ((debug.Control & ~validControl) != 0)
            return -(int)Errno.EINVAL;
        bool enabled = (debug.Control & KvmConstants.KVM_GUESTDBG_ENABLE) != 0;
        Cpu.GuestDebug = new GuestDebugSettings
        {
            Enabled = enabled,
            SingleStep = enabled && (debug.Control & KvmConstants.KVM_GUESTDBG_SINGLESTEP) != 0,
            UseSoftwareBreakpoints = enabled && (debug.Control & KvmConstants.KVM_GUESTDBG_USE_SW_BP) != 0,
            UseHardwareBreakpoints = enabled && (debug.Control & KvmConstants.KVM_GUESTDBG_USE_HW_BP) != 0,
            Dr0 = debug.Arch.Debugreg[0],
            Dr1 = debug.Arch.Debugreg[1],
            Dr2 = debug.Arch.Debugreg[2],
            Dr3 = debug.Arch.Debugreg[3],
            Dr7 = debug.Arch.Debugreg[7],
        };
        return 0;
    }

    /// <summary>KVM_SET_SIGNAL_MASK: stored and honoured by the run loop's interruption check; the kernel sigset is 8 bytes.</summary>
    private int SetSignalMask(KvmSignalMask* mask)
    {
        if (mask == null)
        {
            SignalMask = null;
            return 0;
        }
        if (!UserMemory.IsAccessible((nint)mask, sizeof(KvmSignalMask)))
            return -(int)Errno.EFAULT;
        if (mask->Len != 8)
            return -(int)Errno.EINVAL;
        if (!UserMemory.IsAccessible((nint)mask + sizeof(KvmSignalMask), 8))
            return -(int)Errno.EFAULT;
        SignalMask = new ReadOnlySpan<byte>((byte*)mask + sizeof(KvmSignalMask), 8).ToArray();
        return 0;
    }
}
