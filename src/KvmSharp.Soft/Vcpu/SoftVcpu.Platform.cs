using KvmSharp.Abi;
using KvmSharp.Soft.Cpu;
using KvmSharp.Soft.Platform;

namespace KvmSharp.Soft.Vcpu;

// The vCPU's side of the in-kernel irqchip: its local APIC, the devices served
// without a userspace exit, HLT that sleeps, and INIT/SIPI.
internal sealed unsafe partial class SoftVcpu : IVcpuSink
{
    /// <summary>KVM's IOAPIC decodes 0x100 bytes at its base (IOAPIC_MEM_LENGTH).</summary>
    private const ulong IoapicWindow = 0x100;
    private const ulong ApicWindow = 0x1000;

    /// <summary>
    /// Wakes a sleeping vCPU. No spinning before blocking: a halted vCPU usually
    /// waits milliseconds, and spins cost host CPU on every halt (bench/platform).
    /// </summary>
    private readonly ManualResetEventSlim _wake = new(false, spinCount: 0);

    /// <summary>
    /// How long a sleeping vCPU waits before looking for a kick (immediate_exit,
    /// which does not wake it): the longest a kick can take, and 20 wake-ups a
    /// second per idle vCPU.
    /// </summary>
    private const int KickPollMilliseconds = 50;
    private InKernelIrqchip? _chips;
    private LocalApic? _apic;
    private volatile bool _initPending;
    private volatile int _sipiVector = -1;
    private KvmMpState _mpState = KvmMpState.Runnable;

    public LocalApic? Apic => _apic;

    public void AttachLocalApic(InKernelIrqchip chips, bool bootstrapProcessor)
    {
        _chips = chips;
        _apic = chips.CreateLocalApic(Id, this, bootstrapProcessor);
        _apic.Tsc = new CpuTsc(Cpu);
        Cpu.InterruptSource = new ApicInterruptSource(_apic);
        // CR8 is the APIC's task priority (TPR bits 7:4) once there is an APIC.
        var apic = _apic;
        Cpu.ReadTaskPriority = () => apic.Cr8;
        Cpu.WriteTaskPriority = value => apic.Cr8 = value;
        Cpu.ReadApicBase = () => apic.BaseMsr;
        Cpu.WriteApicBase = value => apic.TryWriteBaseMsr(value, x2ApicSupported: true);
        Cpu.ApicBase = _apic.BaseMsr;
        // Application processors wait for INIT and SIPI, as under KVM.
        _mpState = bootstrapProcessor ? KvmMpState.Runnable : KvmMpState.Uninitialized;
    }

    /// <summary>MSRs the CPU model leaves to the kernel: paravirtual ones, then the local APIC's. False = #GP.</summary>
    private bool ReadDeviceMsr(uint msr, out ulong value) => TryReadParavirtMsr(msr, out value) || ReadApicMsr(msr, out value);

    private bool WriteDeviceMsr(uint msr, ulong value, bool fromGuest) =>
        TryWriteParavirtMsr(msr, value, fromGuest) ?? WriteApicMsr(msr, value);

    private bool ReadApicMsr(uint msr, out ulong value)
    {
        value = 0;
        if (_apic is null)
            return false;
        if (msr == LocalApic.TscDeadlineMsr)
        {
            value = _apic.TscDeadline;
            return true;
        }
        return _apic.TryReadMsr(msr, out value);
    }

    private bool WriteApicMsr(uint msr, ulong value)
    {
        if (_apic is null)
            return false;
        if (msr == LocalApic.TscDeadlineMsr)
        {
            _apic.TscDeadline = value;
            return true;
        }
        return _apic.TryWriteMsr(msr, value);
    }

    // IVcpuSink: called from device and other vCPU threads; record and wake only.
    public void SignalInterrupt()
    {
        Cpu.SignalInterrupt();
        _wake.Set();
    }

    public void DeliverNmi()
    {
        Cpu.NmiPending = true;
        Cpu.SignalInterrupt();
        _wake.Set();
    }

    public void DeliverSmi()
    {
        // Soft has no SMM; an SMI is dropped, as on a CPU without SMM support.
    }

    public void DeliverInit()
    {
        _initPending = true;
        Cpu.RequestStop();
        _wake.Set();
    }

    public void DeliverSipi(byte vector)
    {
        _sipiVector = vector;
        _wake.Set();
    }

    /// <summary>
    /// Serves a port access by an in-kernel device; false when userspace must.
    /// A served IN leaves its data in the CPU's I/O area for the next Run.
    /// </summary>
    private bool TryServePortInKernel(ref CpuExitInfo exit)
    {
        if (exit.IoIsOut && exit.IoCount == 1 && _vm.TrySignalIoeventfd(pio: true, exit.IoPort, exit.IoSize, ReadLittleEndian(Cpu.IoData.AsSpan(0, exit.IoSize))))
            return true;
        if (_chips is not { } chips)
            return false;
        ushort port = exit.IoPort;
        bool pic = port is I8259Pic.MasterCommandPort or I8259Pic.MasterDataPort or I8259Pic.SlaveCommandPort
            or I8259Pic.SlaveDataPort or I8259Pic.MasterElcrPort or I8259Pic.SlaveElcrPort;
        I8254Pit? pit = chips.Pit;
        bool timer = pit is not null && port is >= I8254Pit.Channel0Port and <= I8254Pit.ControlPort or I8254Pit.SpeakerPort;
        if (!pic && !timer)
            return false;
        int bytes = exit.IoSize * (int)exit.IoCount;
        for (int i = 0; i < bytes; i += exit.IoSize)
        {
            // These chips decode byte accesses; KVM ignores wider ones (reads see all ones).
            if (exit.IoSize != 1)
            {
                if (!exit.IoIsOut)
                    Cpu.IoData.AsSpan(i, exit.IoSize).Fill(0xff);
                continue;
            }
            if (exit.IoIsOut)
            {
                if (pic) chips.Pic.WritePort(port, Cpu.IoData[i]);
                else pit!.WritePort(port, Cpu.IoData[i]);
            }
            else
            {
                Cpu.IoData[i] = pic ? chips.Pic.ReadPort(port) : pit!.ReadPort(port);
            }
        }
        return true;
    }

    /// <summary>Serves an MMIO access to the IOAPIC or this vCPU's local APIC; false when userspace must.</summary>
    private bool TryServeMmioInKernel(ref CpuExitInfo exit)
    {
        if (exit.MmioIsWrite && _vm.TrySignalIoeventfd(pio: false, exit.MmioAddress, exit.MmioSize, exit.MmioData))
            return true;
        if (_chips is not { } chips)
            return false;
        ulong address = exit.MmioAddress;
        Span<byte> data = stackalloc byte[8];
        data = data[..exit.MmioSize];
        ulong ioapicBase = chips.Ioapic.BaseAddress;
        if (address >= ioapicBase && address + exit.MmioSize <= ioapicBase + IoapicWindow)
        {
            uint offset = (uint)(address - ioapicBase);
            if (exit.MmioIsWrite)
            {
                WriteLittleEndian(data, exit.MmioData);
                chips.Ioapic.WriteMmio(offset, data);
            }
            else
            {
                chips.Ioapic.ReadMmio(offset, data);
                Cpu.MmioReadData = ReadLittleEndian(data);
            }
            return true;
        }
        if (_apic is { DecodesMmio: true } apic && address >= apic.BaseAddress && address + exit.MmioSize <= apic.BaseAddress + ApicWindow)
        {
            uint offset = (uint)(address - apic.BaseAddress);
            if (exit.MmioIsWrite)
            {
                WriteLittleEndian(data, exit.MmioData);
                apic.WriteMmio(offset, data);
            }
            else
            {
                apic.ReadMmio(offset, data);
                Cpu.MmioReadData = ReadLittleEndian(data);
            }
            return true;
        }
        return false;
    }

    private static void WriteLittleEndian(Span<byte> data, ulong value)
    {
        for (int i = 0; i < data.Length; i++)
            data[i] = (byte)(value >> (8 * i));
    }

    private static ulong ReadLittleEndian(ReadOnlySpan<byte> data)
    {
        ulong value = 0;
        for (int i = data.Length - 1; i >= 0; i--)
            value = (value << 8) | data[i];
        return value;
    }

    /// <summary>
    /// With an irqchip a vCPU never exits for HLT or while it waits for SIPI: it
    /// sleeps here until something can run. Returns false when a kick (immediate_exit) ends the wait.
    /// </summary>
    private bool WaitUntilRunnable(KvmRun* run)
    {
        while (true)
        {
            // A sleeping vCPU still answers memory-map changes, or KVM_SET_USER_MEMORY_REGION would wait for it.
            Resynchronize();
            AcceptInitAndSipi();
            bool canRun = _mpState switch
            {
                KvmMpState.Runnable => true,
                // A queued exception (the single-step trap of a HLT under TF) wakes a halted vCPU, as in KVM.
                KvmMpState.Halted => Cpu.NmiPending || Cpu.PendingExceptionVector >= 0 || (Cpu.InterruptFlag && _apic!.HasInterrupt),
                _ => false,
            };
            if (canRun)
            {
                _mpState = KvmMpState.Runnable;
                return true;
            }
            if (Volatile.Read(ref run->ImmediateExit) != 0)
                return false;
            // Sleeps without using the CPU; the timeout only bounds how late a kick is seen.
            _wake.Wait(KickPollMilliseconds);
            _wake.Reset();
        }
    }

    /// <summary>
    /// Acts on a pending INIT, then a pending SIPI, as KVM's
    /// kvm_apic_accept_events does: INIT resets the vCPU (an AP then waits
    /// for SIPI, the boot CPU runs again from the reset vector); a SIPI starts
    /// only a vCPU waiting for it and is dropped otherwise.
    /// </summary>
    private void AcceptInitAndSipi()
    {
        if (_initPending)
        {
            _initPending = false;
            ResetToKvmState();
            // INIT turns kvmclock off too (KVM's kvmclock_reset); the guest enables it again.
            _systemTimeMsr = 0;
            _apic?.Reset(initSignal: true);
            _mpState = Id == _vm.BootCpuId ? KvmMpState.Runnable : KvmMpState.InitReceived;
        }
        int sipi = Interlocked.Exchange(ref _sipiVector, -1);
        if (sipi >= 0 && _mpState == KvmMpState.InitReceived)
            StartAtSipiVector((byte)sipi);
    }

    /// <summary>
    /// KVM_RUN of an AP that has not received INIT: sleeps until INIT, SIPI,
    /// NMI or a kick, accepts what came, and answers EAGAIN (EINTR when kicked).
    /// </summary>
    private int WaitWhileUninitialized(KvmRun* run)
    {
        while (!_initPending && _sipiVector < 0 && !Cpu.NmiPending)
        {
            Resynchronize();
            if (Volatile.Read(ref run->ImmediateExit) != 0)
                return Interrupted(run);
            _wake.Wait(KickPollMilliseconds);
            _wake.Reset();
        }
        AcceptInitAndSipi();
        return -(int)Abi.Errno.EAGAIN;
    }

    private void StartAtSipiVector(byte vector)
    {
        Cpu.Cs.Selector = (ushort)(vector << 8);
        Cpu.Cs.Base = (ulong)vector << 12;
        Cpu.Rip = 0;
        Cpu.NotifyStateChanged();
        _mpState = KvmMpState.Runnable;
    }

    private KvmMpStateArg GetMpState() => new() { MpState = _apic is null ? KvmMpState.Runnable : _mpState };

    private int SetMpStateWithIrqchip(KvmMpState state)
    {
        if (_apic is null)
            return state == KvmMpState.Runnable ? 0 : -(int)Abi.Errno.EINVAL;
        if (state is not (KvmMpState.Runnable or KvmMpState.Uninitialized or KvmMpState.InitReceived or KvmMpState.Halted or KvmMpState.SipiReceived))
            return -(int)Abi.Errno.EINVAL;
        _mpState = state == KvmMpState.SipiReceived ? KvmMpState.Runnable : state;
        return 0;
    }

    /// <summary>KVM_TPR_ACCESS_REPORTING: accepted with a local APIC; Soft has no TPR-access exits to report (KVM_CAP_VAPIC is 0).</summary>
    private int TprAccessReporting(KvmTprAccessCtl* control)
    {
        if (_apic is null)
            return -(int)Abi.Errno.EINVAL;
        if (!Handles.UserMemory.IsAccessible((nint)control, sizeof(KvmTprAccessCtl)))
            return -(int)Abi.Errno.EFAULT;
        return control->Flags != 0 ? -(int)Abi.Errno.EINVAL : 0;
    }

    /// <summary>KVM_SET_VAPIC_ADDR: only 0 (no virtual-APIC page) is honoured, Soft not offering KVM_CAP_VAPIC.</summary>
    private int SetVapicAddr(KvmVapicAddr* address)
    {
        if (_apic is null)
            return -(int)Abi.Errno.EINVAL;
        if (!Handles.UserMemory.IsAccessible((nint)address, sizeof(KvmVapicAddr)))
            return -(int)Abi.Errno.EFAULT;
        return address->VapicAddr == 0 ? 0 : -(int)Abi.Errno.EINVAL;
    }

    private int GetLapic(nint arg) => _apic is { } apic ? Out(arg, apic.GetState()) : -(int)Abi.Errno.EINVAL;

    private int SetLapic(nint arg) => _apic is { } apic ? In(arg, (in KvmLapicState state) => { apic.SetState(state); return 0; }) : -(int)Abi.Errno.EINVAL;

    /// <summary>The CPU's maskable-interrupt source: the local APIC (with the PIC behind LINT0).</summary>
    private sealed class ApicInterruptSource(LocalApic apic) : Cpu.IInterruptSource
    {
        public bool TryAcknowledge(out byte vector) => apic.TryAcknowledge(out vector);
    }

    /// <summary>The guest TSC as the APIC's TSC-deadline timer needs it.</summary>
    private sealed class CpuTsc(X86Cpu cpu) : IGuestTsc
    {
        public ulong TscAt(long nanoseconds) => cpu.ReadTsc();
        public uint TscKhz => (uint)(cpu.TscFrequency / 1000);
    }
}
