using KvmSharp.Tests.Guests;
using static Iced.Intel.AssemblerRegisters;
using static KvmSharp.Tests.Guests.ApicGuest;

namespace KvmSharp.Tests.Platform;

/// <summary>
/// The local APIC timer in its three modes, timed by the guest's own TSC:
/// ticks must not come early, nor absurdly late. KVM's APIC timer counts at
/// 1 GHz divided by TDCR, so with divide-by-1 a count is a nanosecond.
/// </summary>
public class LapicTimerGuestTests
{
    private const int Vector = 0x40;
    private const int IntervalOffset = 0, TickCountOffset = 8, StartTscOffset = 16, LastTickTscOffset = 24;
    private const long IntervalNanoseconds = 20_000_000;
    /// <summary>Scheduling slack on a loaded two-core machine; precision is the benchmark's business.</summary>
    private const long LatenessAllowedNanoseconds = 400_000_000;

    public enum TimerMode { OneShot = 0, Periodic = 1, TscDeadline = 2 }

    public static TheoryData<string, TimerMode> Cases()
    {
        var cases = new TheoryData<string, TimerMode>();
        foreach (string kernel in Kernels.Names)
            foreach (var mode in Enum.GetValues<TimerMode>())
                cases.Add(kernel, mode);
        return cases;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void TimerTicksAgreeWithTheTsc(string kernel, TimerMode mode)
    {
        int ticksWanted = mode == TimerMode.Periodic ? 5 : 1;
        using var kvm = Kernels.Open(kernel);
        using var guest = new ApicGuest(kvm, 1, g =>
        {
            var a = g.Asm;
            var wait = a.CreateLabel();
            var counted = a.CreateLabel();
            g.EnableApic();
            g.ApicWrite(TimerDivide, 0xb);                          // Divide by 1.
            g.ApicWrite(LvtTimer, Vector | ((uint)mode << 17));
            g.ReadTsc();
            a.mov(__qword_ptr[r14 + StartTscOffset], rax);
            if (mode == TimerMode.TscDeadline)
            {
                a.add(rax, __qword_ptr[r14 + IntervalOffset]);      // The interval, in TSC ticks here.
                a.mov(rdx, rax);
                a.shr(rdx, 32);
                a.mov(ecx, 0x6e0);                                  // IA32_TSC_DEADLINE
                a.wrmsr();
            }
            else
            {
                a.mov(eax, __dword_ptr[r14 + IntervalOffset]);      // The interval, in APIC timer counts.
                a.mov(__dword_ptr[r15 + TimerInitialCount], eax);
            }
            a.Label(ref wait);
            a.sti();
            a.hlt();
            a.cli();
            a.cmp(__qword_ptr[r14 + TickCountOffset], ticksWanted);
            a.jb(wait);
            a.@out(0x10, al);
            a.hlt();

            g.Gate(Vector);
            g.ReadTsc();
            a.mov(__qword_ptr[r14 + LastTickTscOffset], rax);
            g.Increment(TickCountOffset);
            a.cmp(__qword_ptr[r14 + TickCountOffset], ticksWanted);
            a.jb(counted);
            g.ApicWrite(TimerInitialCount, 0);                      // Stop a periodic timer at the last wanted tick.
            a.Label(ref counted);
            g.ApicWrite(Eoi, 0);
            a.iretq();
        });
        long tscKhz = guest.Vcpus[0].GetTscKhz();
        Assert.True(tscKhz > 0, $"KVM_GET_TSC_KHZ answered {tscKhz}.");
        long Ticks(long nanoseconds) => (long)((Int128)nanoseconds * tscKhz / 1_000_000);
        guest.SetData(IntervalOffset, (ulong)(mode == TimerMode.TscDeadline ? Ticks(IntervalNanoseconds) : IntervalNanoseconds));

        Assert.Equal(0x10, guest.RunToOut(0).Port);
        Assert.Equal((ulong)ticksWanted, guest.Data(TickCountOffset));
        long elapsed = (long)(guest.Data(LastTickTscOffset) - guest.Data(StartTscOffset));
        long expected = Ticks(ticksWanted * IntervalNanoseconds);
        // The TSC's kHz is rounded, hence 1% below; never a whole interval early.
        Assert.InRange(elapsed, expected * 99 / 100, expected + Ticks(LatenessAllowedNanoseconds));
    }
}
