using KvmSharp.Abi;
using KvmSharp.Soft.Handles;
using KvmSharp.Soft.Platform;
using KvmSharp.Soft.Vcpu;
using static KvmSharp.Abi.KvmIoctls;

namespace KvmSharp.Soft.Vm;

// The in-kernel interrupt controllers, PIT, GSI routing and clock of a VM.
internal sealed unsafe partial class SoftVm
{
    private readonly Lock _platformLock = new();
    private uint _bootCpuId;

    /// <summary>The PICs, IOAPIC, APIC bus and router once KVM_CREATE_IRQCHIP ran, else null.</summary>
    public InKernelIrqchip? Irqchip { get; private set; }

    public uint BootCpuId => _bootCpuId;

    private bool TryPlatformIoctl(ulong request, nint arg, out int result)
    {
        try
        {
            result = request switch
            {
                _ when request == KVM_CREATE_IRQCHIP => CreateIrqchip(),
                _ when request == KVM_IRQ_LINE => IrqLine((KvmIrqLevel*)arg, lineStatus: false),
                _ when request == KVM_IRQ_LINE_STATUS => IrqLine((KvmIrqLevel*)arg, lineStatus: true),
                _ when request == KVM_GET_IRQCHIP => WithIrqchip(chips => Copy<KvmIrqchip>(arg, c => *c = chips.GetIrqchip(c->ChipId))),
                _ when request == KVM_SET_IRQCHIP => WithIrqchip(chips => Copy<KvmIrqchip>(arg, c => chips.SetIrqchip(*c))),
                _ when request == KVM_CREATE_PIT2 => WithIrqchip(chips => Copy<KvmPitConfig>(arg, c => chips.CreatePit(c->Flags))),
                _ when request == KVM_GET_PIT2 => WithPit(pit => Copy<KvmPitState2>(arg, s => *s = pit.GetState())),
                _ when request == KVM_SET_PIT2 => WithPit(pit => Copy<KvmPitState2>(arg, s => pit.SetState(*s))),
                _ when request == KVM_GET_PIT => WithPit(pit => Copy<KvmPitState>(arg, s => s->Channels = pit.GetState().Channels)),
                _ when request == KVM_SET_PIT => WithPit(pit => Copy<KvmPitState>(arg, s => SetPitChannels(pit, s->Channels))),
                _ when request == KVM_REINJECT_CONTROL => WithPit(pit => Copy<KvmReinjectControl>(arg, c => pit.Reinject = c->PitReinject != 0)),
                _ when request == KVM_SET_GSI_ROUTING => SetGsiRouting((KvmIrqRouting*)arg),
                _ when request == KVM_SIGNAL_MSI => WithIrqchip(chips => CopyResult<KvmMsi>(arg, m => chips.Router.SignalMsi(*m))),
                _ when request == KVM_SET_BOOT_CPU_ID => SetBootCpuId(arg),
                _ when request == KVM_IRQFD => AssignIrqfd((KvmIrqfd*)arg),
                _ when request == KVM_IOEVENTFD => AssignIoeventfd((KvmIoeventfd*)arg),
                _ when request == KVM_GET_CLOCK => Copy<KvmClockData>(arg, c => *c = GetClock()),
                _ when request == KVM_SET_CLOCK => SetClock((KvmClockData*)arg),
                _ when request == KVM_XEN_HVM_CONFIG => SetXenHvmConfig((KvmXenHvmConfig*)arg),
                _ => int.MinValue,
            };
        }
        catch (KvmException refused)
        {
            result = -(int)refused.Errno;
        }
        return result != int.MinValue;
    }

    private delegate void StructAction<T>(T* value) where T : unmanaged;
    private delegate int StructFunction<T>(T* value) where T : unmanaged;

    private static int Copy<T>(nint arg, StructAction<T> action) where T : unmanaged
    {
        if (!UserMemory.IsAccessible(arg, sizeof(T)))
            return -(int)Errno.EFAULT;
        T copy = *(T*)arg;
        action(&copy);
        *(T*)arg = copy;
        return 0;
    }

    private static int CopyResult<T>(nint arg, StructFunction<T> function) where T : unmanaged
    {
        if (!UserMemory.IsAccessible(arg, sizeof(T)))
            return -(int)Errno.EFAULT;
        T copy = *(T*)arg;
        return function(&copy);
    }

    /// <summary>KVM answers ENXIO for irqchip ioctls before KVM_CREATE_IRQCHIP.</summary>
    private int WithIrqchip(Func<InKernelIrqchip, int> action) => Irqchip is { } chips ? action(chips) : -(int)Errno.ENXIO;

    private int WithPit(Func<I8254Pit, int> action) => Irqchip?.Pit is { } pit ? action(pit) : -(int)Errno.ENXIO;

    private int CreateIrqchip()
    {
        lock (_platformLock)
        {
            if (Irqchip is not null)
                return -(int)Errno.EEXIST;
            // Local APICs are made with their vCPUs: it is too late once one exists.
            if (HasVcpus)
                return -(int)Errno.EINVAL;
            Irqchip = new InKernelIrqchip();
            return 0;
        }
    }

    private int IrqLine(KvmIrqLevel* level, bool lineStatus)
    {
        if (Irqchip is not { } chips)
            return -(int)Errno.ENXIO;
        if (!UserMemory.IsAccessible((nint)level, sizeof(KvmIrqLevel)))
            return -(int)Errno.EFAULT;
        int status = chips.IrqLine(level->Irq, level->Level != 0, lineStatus);
        if (lineStatus)
            level->Status = status;
        return 0;
    }

    private static void SetPitChannels(I8254Pit pit, KvmPitChannels channels)
    {
        var state = pit.GetState();
        state.Channels = channels;
        pit.SetState(state);
    }

    private int SetGsiRouting(KvmIrqRouting* routing)
    {
        if (Irqchip is not { } chips)
            return -(int)Errno.ENXIO;
        if (!UserMemory.IsAccessible((nint)routing, sizeof(KvmIrqRouting)))
            return -(int)Errno.EFAULT;
        if (routing->Nr > GsiRouter.MaxRoutes)
            return -(int)Errno.EINVAL;
        var entries = (KvmIrqRoutingEntry*)((byte*)routing + sizeof(KvmIrqRouting));
        if (!UserMemory.IsAccessible((nint)entries, (int)routing->Nr * sizeof(KvmIrqRoutingEntry)))
            return -(int)Errno.EFAULT;
        chips.Router.SetRouting(new ReadOnlySpan<KvmIrqRoutingEntry>(entries, (int)routing->Nr), routing->Flags);
        return 0;
    }

    private int SetBootCpuId(nint id)
    {
        if (HasVcpus)
            return -(int)Errno.EBUSY;
        if ((ulong)id >= Model.SoftLimits.MaxVcpus)
            return -(int)Errno.EINVAL;
        _bootCpuId = (uint)id;
        return 0;
    }

    /// <summary>With an irqchip, each new vCPU gets its local APIC; KVM_CREATE_VCPU calls this.</summary>
    private void AttachPlatform(SoftVcpu vcpu)
    {
        if (Irqchip is { } chips)
            vcpu.AttachLocalApic(chips, bootstrapProcessor: vcpu.Id == _bootCpuId);
    }
}
