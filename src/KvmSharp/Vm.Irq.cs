using KvmSharp.Abi;
using static KvmSharp.Abi.KvmIoctls;

namespace KvmSharp;

// The in-kernel interrupt controllers, timers and interrupt routing of a VM.
public sealed unsafe partial class Vm
{
    /// <summary>KVM_CREATE_IRQCHIP: the PICs, the IOAPIC and a local APIC per vCPU created afterwards.</summary>
    [KvmIoctl("KVM_CREATE_IRQCHIP")]
    public void CreateIrqchip() => Handle.Call(KVM_CREATE_IRQCHIP, 0, nameof(KVM_CREATE_IRQCHIP));

    /// <summary>KVM_IRQ_LINE: sets the level of a GSI.</summary>
    [KvmIoctl("KVM_IRQ_LINE")]
    public void IrqLine(uint gsi, bool level)
    {
        var arg = new KvmIrqLevel { Irq = gsi, Level = level ? 1u : 0u };
        Handle.Call(KVM_IRQ_LINE, (nint)(&arg), nameof(KVM_IRQ_LINE), () => $"GSI {gsi} level {(level ? 1 : 0)}");
    }

    /// <summary>KVM_IRQ_LINE_STATUS: like <see cref="IrqLine"/>, and returns the delivery status (&gt;0 delivered, 0 masked or coalesced, &lt;0 not delivered).</summary>
    [KvmIoctl("KVM_IRQ_LINE_STATUS")]
    public int IrqLineStatus(uint gsi, bool level)
    {
        var arg = new KvmIrqLevel { Irq = gsi, Level = level ? 1u : 0u };
        Handle.Call(KVM_IRQ_LINE_STATUS, (nint)(&arg), nameof(KVM_IRQ_LINE_STATUS), () => $"GSI {gsi} level {(level ? 1 : 0)}");
        return arg.Status;
    }

    /// <summary>KVM_GET_IRQCHIP: the state of the chip named by <paramref name="chipId"/> (KVM_IRQCHIP_PIC_MASTER/SLAVE/IOAPIC).</summary>
    [KvmIoctl("KVM_GET_IRQCHIP")]
    public KvmIrqchip GetIrqchip(uint chipId)
    {
        var chip = new KvmIrqchip { ChipId = chipId };
        Handle.Call(KVM_GET_IRQCHIP, (nint)(&chip), nameof(KVM_GET_IRQCHIP), () => $"chip_id {chipId}");
        return chip;
    }

    /// <summary>KVM_SET_IRQCHIP.</summary>
    [KvmIoctl("KVM_SET_IRQCHIP")]
    public void SetIrqchip(in KvmIrqchip chip)
    {
        var copy = chip;
        var shown = copy;
        Handle.Call(KVM_SET_IRQCHIP, (nint)(&copy), nameof(KVM_SET_IRQCHIP), () => $"chip_id {shown.ChipId}");
    }

    /// <summary>KVM_CREATE_PIT2: an in-kernel 8254 on IRQ 0.</summary>
    [KvmIoctl("KVM_CREATE_PIT2")]
    public void CreatePit2(uint flags = 0)
    {
        var config = new KvmPitConfig { Flags = flags };
        Handle.Call(KVM_CREATE_PIT2, (nint)(&config), nameof(KVM_CREATE_PIT2), () => $"flags 0x{flags:x}");
    }

    /// <summary>KVM_GET_PIT2.</summary>
    [KvmIoctl("KVM_GET_PIT2")]
    public KvmPitState2 GetPit2()
    {
        KvmPitState2 state = default;
        Handle.Call(KVM_GET_PIT2, (nint)(&state), nameof(KVM_GET_PIT2));
        return state;
    }

    /// <summary>KVM_SET_PIT2.</summary>
    [KvmIoctl("KVM_SET_PIT2")]
    public void SetPit2(in KvmPitState2 state)
    {
        var copy = state;
        Handle.Call(KVM_SET_PIT2, (nint)(&copy), nameof(KVM_SET_PIT2));
    }

    /// <summary>KVM_GET_PIT (the older form without flags).</summary>
    [KvmIoctl("KVM_GET_PIT")]
    public KvmPitState GetPit()
    {
        KvmPitState state = default;
        Handle.Call(KVM_GET_PIT, (nint)(&state), nameof(KVM_GET_PIT));
        return state;
    }

    /// <summary>KVM_SET_PIT.</summary>
    [KvmIoctl("KVM_SET_PIT")]
    public void SetPit(in KvmPitState state)
    {
        var copy = state;
        Handle.Call(KVM_SET_PIT, (nint)(&copy), nameof(KVM_SET_PIT));
    }

    /// <summary>KVM_REINJECT_CONTROL: whether missed PIT ticks are re-injected.</summary>
    [KvmIoctl("KVM_REINJECT_CONTROL")]
    public void ReinjectControl(bool pitReinject)
    {
        var control = new KvmReinjectControl { PitReinject = pitReinject ? (byte)1 : (byte)0 };
        Handle.Call(KVM_REINJECT_CONTROL, (nint)(&control), nameof(KVM_REINJECT_CONTROL));
    }

    /// <summary>KVM_SET_GSI_ROUTING: replaces the whole GSI routing table.</summary>
    [KvmIoctl("KVM_SET_GSI_ROUTING")]
    public void SetGsiRouting(ReadOnlySpan<KvmIrqRoutingEntry> entries) =>
        CountedArgument.Send<KvmIrqRouting, KvmIrqRoutingEntry>(Handle, KVM_SET_GSI_ROUTING, entries, nameof(KVM_SET_GSI_ROUTING), "routing entries");

    /// <summary>KVM_SIGNAL_MSI: injects one message-signalled interrupt; returns &gt;0 delivered, 0 blocked.</summary>
    [KvmIoctl("KVM_SIGNAL_MSI")]
    public int SignalMsi(in KvmMsi msi)
    {
        var copy = msi;
        var shown = copy;
        return Handle.Call(KVM_SIGNAL_MSI, (nint)(&copy), nameof(KVM_SIGNAL_MSI), () => $"MSI address 0x{shown.AddressHi:x}{shown.AddressLo:x8} data 0x{shown.Data:x}");
    }

    /// <summary>KVM_IRQFD: ties an eventfd to a GSI (or, with KVM_IRQFD_FLAG_DEASSIGN, unties it).</summary>
    [KvmIoctl("KVM_IRQFD")]
    public void Irqfd(in KvmIrqfd irqfd)
    {
        var copy = irqfd;
        var shown = copy;
        Handle.Call(KVM_IRQFD, (nint)(&copy), nameof(KVM_IRQFD), () => $"eventfd {shown.Fd} on GSI {shown.Gsi}, flags 0x{shown.Flags:x}");
    }

    /// <summary>KVM_IOEVENTFD: signals an eventfd on a guest write to an address or port instead of exiting.</summary>
    [KvmIoctl("KVM_IOEVENTFD")]
    public void Ioeventfd(in KvmIoeventfd ioeventfd)
    {
        var copy = ioeventfd;
        var shown = copy;
        Handle.Call(KVM_IOEVENTFD, (nint)(&copy), nameof(KVM_IOEVENTFD), () => $"eventfd {shown.Fd} at 0x{shown.Addr:x} length {shown.Len}, flags 0x{shown.Flags:x}");
    }

    /// <summary>KVM_SET_MEMORY_REGION: the removed predecessor of KVM_SET_USER_MEMORY_REGION, kept so callers can see the kernel refuse it.</summary>
    [KvmIoctl("KVM_SET_MEMORY_REGION")]
    public void SetMemoryRegion(in KvmMemoryRegion region)
    {
        var copy = region;
        var shown = copy;
        Handle.Call(KVM_SET_MEMORY_REGION, (nint)(&copy), nameof(KVM_SET_MEMORY_REGION), () => $"slot {shown.Slot}");
    }
}
