using KvmSharp.Abi;
using KvmSharp.Kernel;
using KvmSharp.Soft.Platform;
using R = KvmSharp.Soft.Platform.ApicRegisters;

namespace KvmSharp.Soft.Tests.Platform;

/// <summary>
/// Some of these tests count timer ticks against the wall clock; with the CPU-bound floating-point tests beside them on
/// this machine's two cores the timer thread was starved (42 PIT ticks where 51 is the floor), so they run alone.
/// </summary>
[CollectionDefinition(nameof(RealTimeCollection), DisableParallelization = true)]
public sealed class RealTimeCollection;

[Collection(nameof(RealTimeCollection))]
public class InKernelIrqchipTests
{
    /// <summary>A vCPU that sleeps until its APIC kicks it.</summary>
    private sealed class WaitingVcpu : IVcpuSink
    {
        public readonly SemaphoreSlim Kicks = new(0);

        public void SignalInterrupt() => Kicks.Release();
        public void DeliverNmi() { }
        public void DeliverSmi() { }
        public void DeliverInit() { }
        public void DeliverSipi(byte vector) { }
    }

    [Fact]
    public void Irqchip_ids_beyond_the_ioapic_are_einval_as_on_host()
    {
        using var chips = new InKernelIrqchip(new ManualClock(), runTimers: false);
        Assert.Equal(Errno.EINVAL, Assert.Throws<KvmException>(() => chips.GetIrqchip(3)).Errno);
        Assert.Equal(Errno.EINVAL, Assert.Throws<KvmException>(() => chips.SetIrqchip(new KvmIrqchip { ChipId = 7 })).Errno);

        var host = new HostKernel();
        if (!host.IsAvailable())
            return;
        using var kvm = Kvm.Open(host);
        using var vm = kvm.CreateVm();
        vm.CreateIrqchip();
        Assert.Equal(Errno.EINVAL, Assert.Throws<KvmException>(() => vm.GetIrqchip(3)).Errno);
    }

    [Fact]
    public void Irqchip_calls_reach_the_chips()
    {
        using var chips = new InKernelIrqchip(new ManualClock(), runTimers: false);
        var state = chips.GetIrqchip(0);
        state.Pic.Imr = 0x5A;
        chips.SetIrqchip(state);
        Assert.Equal(0x5A, chips.Pic.GetState(0).Imr);
        Assert.Equal(0xFEC00000ul, chips.GetIrqchip(2).Ioapic.BaseAddress);
        Assert.Equal(-1, chips.IrqLine(1, true, lineStatus: true)); // masked at the PIC, masked at the IOAPIC
    }

    [Fact]
    public void A_second_pit_is_eexist_and_unknown_flags_einval()
    {
        using var chips = new InKernelIrqchip(new ManualClock(), runTimers: false);
        Assert.Equal(Errno.EINVAL, Assert.Throws<KvmException>(() => chips.CreatePit(2)).Errno);
        chips.CreatePit(KvmConstants.KVM_PIT_SPEAKER_DUMMY);
        Assert.Equal(Errno.EEXIST, Assert.Throws<KvmException>(() => chips.CreatePit(0)).Errno);
    }

    // Real time, on the timer thread: the PIT at 1 kHz through the PIC to the
    // BSP, whose "CPU" sleeps until kicked and acknowledges like an interrupt
    // handler would. Reinjection means none is lost, only late.
    [Fact]
    public void Pit_interrupts_arrive_in_real_time_through_the_pic()
    {
        using var chips = new InKernelIrqchip();
        var vcpu = new WaitingVcpu();
        var bsp = chips.CreateLocalApic(0, vcpu, bootstrapProcessor: true);
        foreach (var (port, value) in new (ushort, byte)[] { (0x20, 0x11), (0x21, 0x20), (0x21, 0x04), (0x21, 0x01), (0xA0, 0x11), (0xA1, 0x28), (0xA1, 0x02), (0xA1, 0x01) })
            chips.Pic.WritePort(port, value);
        var pit = chips.CreatePit(0);
        pit.WritePort(I8254Pit.ControlPort, 0x34);
        pit.WritePort(0x40, 1193 & 0xFF);
        pit.WritePort(0x40, 1193 >> 8);
        var started = System.Diagnostics.Stopwatch.StartNew();
        int taken = 0;
        while (started.ElapsedMilliseconds < 200)
        {
            vcpu.Kicks.Wait(20, TestContext.Current.CancellationToken);
            while (bsp.TryAcknowledge(out byte vector))
            {
                Assert.Equal(0x20, vector);
                chips.Pic.WritePort(0x20, 0x20);
                taken++;
            }
        }
        long elapsed = started.ElapsedMilliseconds;
        Assert.InRange(taken, elapsed / 4, elapsed + 5);
    }

    [Fact]
    public void Apic_timer_ticks_in_real_time_on_the_timer_thread()
    {
        using var chips = new InKernelIrqchip();
        var vcpu = new WaitingVcpu();
        var apic = chips.CreateLocalApic(0, vcpu, bootstrapProcessor: true);
        apic.WriteRegister(R.SpuriousVector, 0x1FF);
        apic.WriteRegister(R.TimerDivide, 0xB);
        apic.WriteRegister(R.LvtTimer, (1 << 17) | 0xEC);
        apic.WriteRegister(R.TimerInitialCount, 2_000_000); // 2 ms
        var started = System.Diagnostics.Stopwatch.StartNew();
        int ticks = 0;
        while (started.ElapsedMilliseconds < 200)
        {
            vcpu.Kicks.Wait(20, TestContext.Current.CancellationToken);
            while (apic.TryAcknowledge(out _))
            {
                apic.WriteRegister(R.Eoi, 0);
                ticks++;
            }
        }
        apic.WriteRegister(R.TimerInitialCount, 0);
        Assert.InRange(ticks, 10, 105);
    }
}
