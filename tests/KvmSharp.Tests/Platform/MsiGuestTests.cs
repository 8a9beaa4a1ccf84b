using System.Runtime.InteropServices;
using KvmSharp.Abi;
using KvmSharp.Tests.Guests;
using static Iced.Intel.AssemblerRegisters;
using static KvmSharp.Tests.Guests.ApicGuest;

namespace KvmSharp.Tests.Platform;

/// <summary>Message-signalled interrupts, routed by GSI (irqfd) and direct (KVM_SIGNAL_MSI), to the vCPU the address names.</summary>
public partial class MsiGuestTests
{
    private const byte RoutedVector = 0x45, DirectVector = 0x46;
    private const uint RoutedGsi = 40;
    private const int ReportPort = 0x11;

    [Theory]
    [MemberData(nameof(Kernels.WithIrqchip), MemberType = typeof(Kernels))]
    public unsafe void MsisReachTheApicTheirAddressNames(string kernel)
    {
        using var kvm = Kernels.Open(kernel);
        using var guest = new ApicGuest(kvm, 2, g =>
        {
            var a = g.Asm;
            var sleep = a.CreateLabel();
            g.EnableApic();
            a.@out(0x10, eax);                                      // Ready.
            a.sti();
            a.Label(ref sleep);
            a.hlt();
            a.jmp(sleep);
            foreach (byte vector in new[] { RoutedVector, DirectVector })
            {
                g.Gate(vector);
                a.mov(eax, vector);
                a.@out(ReportPort, eax);
                g.ApicWrite(Eoi, 0);
                a.iretq();
            }
        });
        // Destination ID 1 in address bits 19:12, physical mode: vCPU 1, not the BSP.
        const uint AddressOfVcpu1 = 0xfee00000 | (1 << 12);
        var route = new KvmIrqRoutingEntry { Gsi = RoutedGsi, Type = KvmConstants.KVM_IRQ_ROUTING_MSI };
        route.Msi.AddressLo = AddressOfVcpu1;
        route.Msi.Data = RoutedVector;
        guest.Vm.SetGsiRouting([route]);
        using var irq = new EventFd();
        guest.Vm.Irqfd(new KvmIrqfd { Fd = (uint)irq.Fd, Gsi = RoutedGsi });
        guest.Vcpus[1].SetMpState(KvmMpState.Runnable);
        Assert.Equal(0x10, guest.RunToOut(1).Port);

        // Each source fires from another thread while vCPU 1 sleeps in HLT.
        int direct = -1;
        foreach (var (fire, vector) in new (Action, byte)[]
        {
            (() => { ulong one = 1; Assert.Equal(8, Write(irq.Fd, &one, 8)); }, RoutedVector),
            (() => direct = guest.Vm.SignalMsi(new KvmMsi { AddressLo = AddressOfVcpu1, Data = DirectVector }), DirectVector),
        })
        {
            var source = new Thread(() => { Thread.Sleep(50); fire(); });
            source.Start();
            var report = guest.RunToOut(1);
            source.Join();
            Assert.Equal(((ushort)ReportPort, (uint)vector), report);
        }
        Assert.True(direct > 0, $"KVM_SIGNAL_MSI answered {direct}: not delivered.");
    }

    [LibraryImport("libc", EntryPoint = "write")]
    private static unsafe partial nint Write(int fd, void* buffer, nuint count);
}
