using System.Diagnostics;
using System.Runtime.InteropServices;
using KvmSharp.Abi;
using static Iced.Intel.AssemblerRegisters;

namespace KvmSharp.PlatformBench;

/// <summary>
/// Interrupt delivery latency: from a host thread's write to an irqfd (routed
/// to an MSI) to the guest handler's first store, seen by the host spinning on
/// guest memory. The vCPU sleeps in HLT before each interrupt, as an idle guest does.
/// </summary>
public static partial class IrqfdLatency
{
    private const int Vector = 0x40, CountOffset = 0;
    private const uint Gsi = 30;

    public static Samples Measure(Kvm kvm, int samples)
    {
        using var guest = new PlatformGuest(kvm, 1, (a, gates) =>
        {
            var sleep = a.CreateLabel();
            a.@out(0x10, al);                                       // Ready.
            a.Label(ref sleep);
            a.sti();
            a.hlt();
            a.jmp(sleep);
            var handler = a.CreateLabel();
            a.Label(ref handler);
            gates[Vector] = handler;
            a.inc(__qword_ptr[r14 + CountOffset]);
            a.mov(__dword_ptr[r15 + PlatformGuest.Eoi], 0);
            a.iretq();
        });
        var route = new KvmIrqRoutingEntry { Gsi = Gsi, Type = KvmConstants.KVM_IRQ_ROUTING_MSI };
        route.Msi.AddressLo = 0xfee00000;
        route.Msi.Data = Vector;
        guest.Vm.SetGsiRouting([route]);
        int irqfd = EventFd(0, 0x80000 /* EFD_CLOEXEC */);
        if (irqfd < 0)
            throw new InvalidOperationException($"eventfd failed with errno {Marshal.GetLastPInvokeError()}.");
        try
        {
            guest.Vm.Irqfd(new KvmIrqfd { Fd = (uint)irqfd, Gsi = Gsi });
            guest.RunToOut(0, 0x10);
            Exception? failure = null;
            var vcpuThread = guest.RunUntilKicked(0, e => failure = e);
            var latencies = new double[samples];
            for (int i = 0; i < samples + Samples.WarmUp; i++)
            {
                // Let the vCPU go back to sleep in HLT.
                Pause(TimeSpan.FromMicroseconds(300));
                ulong before = guest.Data(CountOffset);
                long start = Stopwatch.GetTimestamp();
                Signal(irqfd);
                while (guest.Data(CountOffset) == before)
                {
                    if (failure is not null || Stopwatch.GetElapsedTime(start) > TimeSpan.FromSeconds(10))
                        throw new InvalidOperationException("The guest did not take the interrupt.", failure);
                }
                if (i >= Samples.WarmUp)
                    latencies[i - Samples.WarmUp] = Stopwatch.GetElapsedTime(start).TotalMicroseconds;
            }
            guest.Vcpus[0].Kick();
            vcpuThread.Join();
            return new Samples(latencies);
        }
        finally
        {
            Close(irqfd);
        }
    }

    private static void Pause(TimeSpan duration)
    {
        long end = Stopwatch.GetTimestamp() + (long)(duration.TotalSeconds * Stopwatch.Frequency);
        while (Stopwatch.GetTimestamp() < end)
            Thread.Sleep(0);
    }

    private static unsafe void Signal(int fd)
    {
        ulong one = 1;
        if (Write(fd, &one, 8) != 8)
            throw new InvalidOperationException($"Writing the irqfd failed with errno {Marshal.GetLastPInvokeError()}.");
    }

    [LibraryImport("libc", EntryPoint = "eventfd", SetLastError = true)]
    private static partial int EventFd(uint initval, int flags);

    [LibraryImport("libc", EntryPoint = "write", SetLastError = true)]
    private static unsafe partial nint Write(int fd, void* buffer, nuint count);

    [LibraryImport("libc", EntryPoint = "close")]
    private static partial int Close(int fd);
}
