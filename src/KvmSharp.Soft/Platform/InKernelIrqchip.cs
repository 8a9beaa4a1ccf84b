using KvmSharp.Abi;

namespace KvmSharp.Soft.Platform;

/// <summary>
/// What KVM_CREATE_IRQCHIP (and KVM_CREATE_PIT2) give a VM, wired as KVM wires
/// it: two PICs and an IOAPIC behind the default GSI routing, a local APIC per
/// vCPU on one APIC bus (each taking the PIC through LINT0 and sending its EOIs
/// to the IOAPIC), the PIT on GSI 0 with reinjection driven by GSI 0's
/// acknowledgements, and one timer thread for the APIC timers and the PIT.
/// </summary>
public sealed class InKernelIrqchip : IDisposable
{
    private readonly object _pitLock = new();

    public InKernelIrqchip(IPlatformClock? clock = null, bool runTimers = true)
    {
        Clock = clock ?? MonotonicClock.Instance;
        Bus = new ApicBus();
        Pic = new I8259Pic();
        Ioapic = new Ioapic(Bus);
        Router = new GsiRouter(Pic, Ioapic, Bus);
        Timers = runTimers ? new DeviceTimers(Clock) : null;
        Pic.InterruptRequested += KickPicTarget;
        Router.GsiAcknowledged += gsi =>
        {
            if (gsi == 0)
                Pit?.AcknowledgeIrq();
        };
    }

    public IPlatformClock Clock { get; }
    public ApicBus Bus { get; }
    public I8259Pic Pic { get; }
    public Ioapic Ioapic { get; }
    public GsiRouter Router { get; }

    /// <summary>The thread that runs device timers; null when the owner polls them itself.</summary>
    public DeviceTimers? Timers { get; }

    /// <summary>The PIT, once KVM_CREATE_PIT2 made it.</summary>
    public I8254Pit? Pit { get; private set; }

    /// <summary>The local APIC of a new vCPU (KVM_CREATE_VCPU with an irqchip present).</summary>
    public LocalApic CreateLocalApic(uint vcpuId, IVcpuSink sink, bool bootstrapProcessor)
    {
        var apic = new LocalApic(vcpuId, Clock, sink, Bus, bootstrapProcessor) { Pic = Pic, EoiListener = Ioapic };
        Timers?.Add(apic);
        return apic;
    }

    /// <summary>KVM_CREATE_PIT2: EEXIST when there is one, EINVAL for unknown flags.</summary>
    public I8254Pit CreatePit(uint flags)
    {
        const string operation = "KVM_CREATE_PIT2";
        if ((flags & ~(uint)KvmConstants.KVM_PIT_SPEAKER_DUMMY) != 0)
            throw new KvmException(Errno.EINVAL, operation, $"flags 0x{flags:x}");
        lock (_pitLock)
        {
            if (Pit is not null)
                throw new KvmException(Errno.EEXIST, operation);
            var pit = new I8254Pit(Clock);
            pit.TimerInterrupt += () => Router.Pulse(GsiRouter.PitSourceId, 0);
            Pit = pit;
        }
        Timers?.Add(Pit);
        return Pit;
    }

    /// <summary>KVM_GET_IRQCHIP: chip 0 and 1 are the PICs, 2 the IOAPIC; anything else is EINVAL.</summary>
    public KvmIrqchip GetIrqchip(uint chipId)
    {
        var chip = new KvmIrqchip { ChipId = chipId };
        switch (chipId)
        {
            case KvmConstants.KVM_IRQCHIP_PIC_MASTER or KvmConstants.KVM_IRQCHIP_PIC_SLAVE:
                chip.Pic = Pic.GetState((int)chipId);
                break;
            case KvmConstants.KVM_IRQCHIP_IOAPIC:
                chip.Ioapic = Ioapic.GetState();
                break;
            default:
                throw new KvmException(Errno.EINVAL, "KVM_GET_IRQCHIP", $"chip_id {chipId}");
        }
        return chip;
    }

    /// <summary>KVM_SET_IRQCHIP.</summary>
    public void SetIrqchip(in KvmIrqchip chip)
    {
        switch (chip.ChipId)
        {
            case KvmConstants.KVM_IRQCHIP_PIC_MASTER or KvmConstants.KVM_IRQCHIP_PIC_SLAVE:
                Pic.SetState((int)chip.ChipId, chip.Pic);
                break;
            case KvmConstants.KVM_IRQCHIP_IOAPIC:
                Ioapic.SetState(chip.Ioapic);
                break;
            default:
                throw new KvmException(Errno.EINVAL, "KVM_SET_IRQCHIP", $"chip_id {chip.ChipId}");
        }
    }

    /// <summary>KVM_IRQ_LINE (<paramref name="lineStatus"/> false) or KVM_IRQ_LINE_STATUS (true) from userspace.</summary>
    public int IrqLine(uint gsi, bool level, bool lineStatus) => Router.SetIrq(GsiRouter.UserspaceSourceId, gsi, level, lineStatus);

    public void Dispose() => Timers?.Dispose();

    // KVM kicks the first vCPU whose APIC takes PIC interrupts.
    private void KickPicTarget()
    {
        foreach (var apic in Bus.Apics)
        {
            if (apic.AcceptsPicInterrupts)
            {
                apic.Kick();
                return;
            }
        }
    }
}
