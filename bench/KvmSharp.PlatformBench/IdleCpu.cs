using System.Diagnostics;
using System.Runtime.InteropServices;
using static Iced.Intel.AssemblerRegisters;

namespace KvmSharp.PlatformBench;

/// <summary>
/// Host CPU an idle 4-vCPU guest costs: every vCPU halts with interrupts open,
/// either with nothing to wake it or with a LAPIC timer ticking at
/// <see cref="TickHz"/> (an idle Linux with a periodic tick). The figure is
/// this process's CPU time over the wall time, in percent of one core.
/// </summary>
public static partial class IdleCpu
{
    public const int Vcpus = 4;
    public const int TickHz = 250;
    private const int TimerVector = 0x50, TicksOffset = 0x100;

    /// <summary>Percent of one host core, one value per window of <paramref name="window"/>.</summary>
    public static (Samples Percent, double TicksPerSecond) Measure(Kvm kvm, int windows, TimeSpan window, bool ticking)
    {
        using var guest = new PlatformGuest(kvm, Vcpus, (a, gates) =>
        {
            var sleep = a.CreateLabel();
            if (ticking)
            {
                a.mov(__dword_ptr[r15 + PlatformGuest.TimerDivide], 0xb);                 // Divide by 1: 1 GHz.
                a.mov(__dword_ptr[r15 + PlatformGuest.LvtTimer], TimerVector | (1 << 17)); // Periodic.
                a.mov(__dword_ptr[r15 + PlatformGuest.TimerInitialCount], 1_000_000_000 / TickHz);
            }
            a.Label(ref sleep);
            a.sti();
            a.hlt();
            a.jmp(sleep);
            var tick = a.CreateLabel();
            a.Label(ref tick);
            gates[TimerVector] = tick;
            a.@lock.inc(__qword_ptr[r14 + TicksOffset]);
            a.mov(__dword_ptr[r15 + PlatformGuest.Eoi], 0);
            a.iretq();
        });
        Exception? failure = null;
        var threads = Enumerable.Range(0, Vcpus).Select(i => guest.RunUntilKicked(i, e => failure = e)).ToArray();
        Thread.Sleep(500);
        var values = new double[windows];
        ulong ticksBefore = guest.Data(TicksOffset);
        var total = Stopwatch.StartNew();
        for (int i = 0; i < windows; i++)
        {
            double cpuBefore = ProcessCpuSeconds();
            var wall = Stopwatch.StartNew();
            Thread.Sleep(window);
            values[i] = (ProcessCpuSeconds() - cpuBefore) / wall.Elapsed.TotalSeconds * 100;
        }
        double ticksPerSecond = (guest.Data(TicksOffset) - ticksBefore) / total.Elapsed.TotalSeconds;
        foreach (var vcpu in guest.Vcpus)
            vcpu.Kick();
        foreach (var thread in threads)
            thread.Join();
        if (failure is not null)
            throw new InvalidOperationException("A vCPU failed.", failure);
        return (new Samples(values), ticksPerSecond);
    }

    /// <summary>User plus system time of the whole process (getrusage: finer than /proc's clock ticks).</summary>
    private static unsafe double ProcessCpuSeconds()
    {
        long* usage = stackalloc long[18];                          // struct rusage: two timevals, then 14 longs.
        if (GetRusage(0 /* RUSAGE_SELF */, usage) != 0)
            throw new InvalidOperationException($"getrusage failed with errno {Marshal.GetLastPInvokeError()}.");
        return usage[0] + usage[1] / 1e6 + usage[2] + usage[3] / 1e6;
    }

    [LibraryImport("libc", EntryPoint = "getrusage", SetLastError = true)]
    private static unsafe partial int GetRusage(int who, long* usage);
}
