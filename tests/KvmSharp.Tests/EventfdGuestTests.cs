using System.Runtime.InteropServices;
using KvmSharp.Abi;
using KvmSharp.Tests.Guests;
using static Iced.Intel.AssemblerRegisters;

namespace KvmSharp.Tests;

public partial class EventfdGuestTests
{
    [Theory]
    [MemberData(nameof(Kernels.All), MemberType = typeof(Kernels))]
    public unsafe void GuestWritesToAnIoeventfdPortSignalItWithoutExits(string kernel)
    {
        using var kvm = Kernels.Open(kernel);
        using var guest = new RealModeGuest(kvm, a =>
        {
            var loop = a.CreateLabel();
            a.mov(dx, 0x510);
            a.mov(cx, 5);
            a.Label(ref loop);
            a.@out(dx, ax);
            a.loop(loop);
            a.hlt();
        });
        using var notify = new EventFd();
        guest.Vm.Ioeventfd(new KvmIoeventfd { Addr = 0x510, Len = 2, Fd = notify.Fd, Flags = KvmConstants.KVM_IOEVENTFD_FLAG_PIO });
        Assert.Equal(KvmExitReason.Hlt, guest.Vcpu.Run().Reason);
        ulong count = 0;
        Assert.Equal(8, Read(notify.Fd, &count, 8));
        Assert.Equal(5UL, count);
    }

    [Theory]
    [MemberData(nameof(Kernels.All), MemberType = typeof(Kernels))]
    public unsafe void AnIrqfdWrittenByAHostThreadWakesAHaltedVcpuThroughAnMsiRoute(string kernel)
    {
        const byte Vector = 0x40;
        using var kvm = Kernels.Open(kernel);
        using var guest = new LongModeGuest(kvm, a =>
        {
            var sleep = a.CreateLabel();
            a.mov(rax, 0xfee000f0);                 // Local APIC spurious-vector register:
            a.mov(__dword_ptr[rax], 0x1ff);         // software-enable the APIC.
            a.@out(0x10, al);                       // Ready.
            a.sti();
            a.Label(ref sleep);
            a.hlt();
            a.jmp(sleep);
        }, interruptVector: Vector, mapLocalApic: true, withIrqchip: true);

        using var irq = new EventFd();
        guest.Vm.SetGsiRouting([new KvmIrqRoutingEntry { Gsi = 30, Type = KvmConstants.KVM_IRQ_ROUTING_MSI, Msi = new KvmIrqRoutingMsi { AddressLo = 0xfee00000, Data = Vector } }]);
        guest.Vm.Irqfd(new KvmIrqfd { Fd = (uint)irq.Fd, Gsi = 30 });

        Assert.Equal(KvmExitReason.Io, guest.Vcpu.Run().Reason);
        Assert.Equal(0x10, guest.Vcpu.Io.Port);
        var writer = new Thread(() =>
        {
            Thread.Sleep(300);
            ulong one = 1;
            Write(irq.Fd, &one, 8);
        });
        writer.Start();
        // HLT does not exit with an in-kernel irqchip: the vCPU sleeps until the interrupt.
        var result = guest.Vcpu.Run();
        writer.Join();
        Assert.Equal(KvmExitReason.Io, result.Reason);
        Assert.Equal(LongModeGuest.InterruptPort, guest.Vcpu.Io.Port);
        Assert.Equal(Vector, guest.Vcpu.Io.Data[0]);
    }

    [LibraryImport("libc", EntryPoint = "read")]
    private static unsafe partial nint Read(int fd, void* buffer, nuint count);

    [LibraryImport("libc", EntryPoint = "write")]
    private static unsafe partial nint Write(int fd, void* buffer, nuint count);
}
