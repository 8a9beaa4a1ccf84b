using KvmSharp.Abi;
using KvmSharp.Tests.Guests;
using static Iced.Intel.AssemblerRegisters;
using static KvmSharp.Tests.Guests.ApicGuest;

namespace KvmSharp.Tests.Platform;

/// <summary>Inter-processor interrupts between vCPUs running on their own threads.</summary>
public class IpiGuestTests
{
    private const int RequestVector = 0x41, ReplyVector = 0x42;
    private const int ReceivedOffset = 0x100, ReadyOffset = 0x200, MarkerOffset = 0x300;
    private const int RoundTrips = 100;
    private const uint FixedIpi = 0x4000, LogicalDestination = 1 << 11;

    public static TheoryData<string, bool> KernelsAndDestinationModes()
    {
        var cases = new TheoryData<string, bool>();
        foreach (string kernel in Kernels.Names)
        {
            cases.Add(kernel, false);
            cases.Add(kernel, true);
        }
        return cases;
    }

    [Theory]
    [MemberData(nameof(KernelsAndDestinationModes))]
    public void TwoVcpusPingPongIpisWithoutLosingAny(string kernel, bool logical)
    {
        // vCPU i's physical APIC ID is i; in flat logical mode its mask is 1 << i.
        uint To(int vcpu) => logical ? 1u << vcpu : (uint)vcpu;
        uint mode = FixedIpi | (logical ? LogicalDestination : 0);
        using var kvm = Kernels.Open(kernel);
        using var guest = new ApicGuest(kvm, 2, g =>
        {
            var a = g.Asm;
            var waitForPartner = a.CreateLabel();
            var round = a.CreateLabel();
            var waitForReply = a.CreateLabel();
            var responder = a.CreateLabel();
            g.EnableApic();
            if (logical)
            {
                g.ApicWrite(DestinationFormat, 0xffff_ffff);        // Flat model.
                a.mov(ecx, edi);
                a.mov(eax, 1 << 24);
                a.shl(eax, cl);
                a.mov(__dword_ptr[r15 + ApicGuest.LogicalDestination], eax);
            }
            a.mov(__qword_ptr[r14 + rdi * 8 + ReadyOffset], 1);
            a.test(edi, edi);
            a.jnz(responder);

            // vCPU 0: sends a request, sleeps until the reply is counted, RoundTrips times.
            a.Label(ref waitForPartner);
            a.pause();
            a.cmp(__qword_ptr[r14 + ReadyOffset + 8], 0);
            a.je(waitForPartner);
            a.xor(ebx, ebx);
            a.Label(ref round);
            a.inc(rbx);
            g.SendIpi(To(1), mode | RequestVector);
            a.Label(ref waitForReply);
            a.sti();                                                // STI's shadow: the reply cannot slip in before HLT.
            a.hlt();
            a.cli();
            a.cmp(__qword_ptr[r14 + ReceivedOffset], rbx);
            a.jb(waitForReply);
            a.cmp(rbx, RoundTrips);
            a.jb(round);
            a.@out(0x10, al);
            a.hlt();

            // vCPU 1: answers each request from its handler.
            a.Label(ref responder);
            a.sti();
            var sleep = a.CreateLabel();
            a.Label(ref sleep);
            a.hlt();
            a.jmp(sleep);

            g.Gate(RequestVector);
            g.Increment(ReceivedOffset + 8);
            g.SendIpi(To(0), mode | ReplyVector);
            g.ApicWrite(Eoi, 0);
            a.iretq();

            g.Gate(ReplyVector);
            g.Increment(ReceivedOffset);
            g.ApicWrite(Eoi, 0);
            a.iretq();
        });
        // With an in-kernel irqchip an AP waits for INIT/SIPI; this test starts it directly.
        guest.Vcpus[1].SetMpState(KvmMpState.Runnable);

        var responderExit = default(RunResult);
        Exception? responderFailure = null;
        var responderThread = new Thread(() =>
        {
            try
            {
                responderExit = guest.Vcpus[1].Run();
            }
            catch (Exception e)
            {
                responderFailure = e;
            }
        });
        responderThread.Start();
        try
        {
            Assert.Equal(0x10, guest.RunToOut(0).Port);
        }
        finally
        {
            guest.Vcpus[1].Kick();
            Assert.True(responderThread.Join(TimeSpan.FromSeconds(30)), "vCPU 1 did not stop when kicked.");
        }
        Assert.Null(responderFailure);
        Assert.Equal(KvmExitReason.Intr, responderExit.Reason);
        Assert.Equal((ulong)RoundTrips, guest.Data(ReceivedOffset + 8));
        Assert.Equal((ulong)RoundTrips, guest.Data(ReceivedOffset));
    }

    [Theory]
    [MemberData(nameof(Kernels.WithIrqchip), MemberType = typeof(Kernels))]
    public void TheBspStartsAnApWithInitSipiSipi(string kernel)
    {
        const byte SipiVector = 0x40;                               // The AP starts at 0x40000 in real mode.
        const uint Marker = 0xa9;
        const int SpinLimit = 2_000_000;
        using var kvm = Kernels.Open(kernel);
        using var guest = new ApicGuest(kvm, 2, g =>
        {
            var a = g.Asm;
            var spin = a.CreateLabel();
            var done = a.CreateLabel();
            g.EnableApic();
            g.SendIpi(1, 0x4500);                                   // INIT, assert.
            g.SendIpi(1, 0x8500);                                   // INIT, level de-assert: no reset of its own.
            g.SendIpi(1, 0x4600 | SipiVector);                      // Start-up,
            g.SendIpi(1, 0x4600 | SipiVector);                      // twice, as the MP specification says.
            a.mov(ecx, SpinLimit);
            a.Label(ref spin);
            a.pause();
            a.cmp(__dword_ptr[r14 + MarkerOffset], Marker);
            a.je(done);
            a.dec(ecx);
            a.jnz(spin);
            a.Label(ref done);
            a.mov(eax, __dword_ptr[r14 + MarkerOffset]);
            a.@out(0x10, eax);
            a.hlt();
        });
        var ap = new Iced.Intel.Assembler(16);
        ap.mov(ax, (ushort)(DataAddress >> 4));
        ap.mov(ds, ax);
        ap.mov(__dword_ptr[MarkerOffset], Marker);
        ap.mov(ax, cs);
        ap.@out(0x11, ax);
        ap.hlt();
        RealModeGuest.Assemble(ap, (ulong)SipiVector << 12).CopyTo(guest.Ram.Span[(SipiVector << 12)..]);
        Assert.Equal(KvmMpState.Uninitialized, guest.Vcpus[1].GetMpState());

        // KVM_RUN of an AP that has not seen INIT waits for it, then answers EAGAIN; the next run waits for SIPI.
        RunResult firstApRun = default;
        (ushort Port, uint Value) apReport = default;
        Exception? apFailure = null;
        var apThread = new Thread(() =>
        {
            try
            {
                firstApRun = guest.Vcpus[1].Run();
                apReport = guest.RunToOut(1);
            }
            catch (Exception e)
            {
                apFailure = e;
            }
        });
        apThread.Start();
        (ushort Port, uint Value) bspReport;
        try
        {
            bspReport = guest.RunToOut(0);
        }
        finally
        {
            if (!apThread.Join(TimeSpan.FromSeconds(30)))
                guest.Vcpus[1].Kick();
        }
        Assert.True(apThread.Join(TimeSpan.FromSeconds(5)), "the AP never stopped.");
        Assert.Null(apFailure);
        Assert.Equal(Errno.EAGAIN, firstApRun.Errno);
        Assert.Equal((0x10, Marker), bspReport);
        // The AP began at CS = vector << 8, IP = 0, in real mode.
        Assert.Equal((0x11, (uint)SipiVector << 8), apReport);
        Assert.Equal(KvmMpState.Runnable, guest.Vcpus[1].GetMpState());
    }

    [Theory]
    [MemberData(nameof(Kernels.WithIrqchip), MemberType = typeof(Kernels))]
    public void ASipiWithoutInitLeavesTheApWaiting(string kernel)
    {
        using var kvm = Kernels.Open(kernel);
        using var guest = new ApicGuest(kvm, 2, g =>
        {
            g.EnableApic();
            g.SendIpi(1, 0x4640);                                   // Start-up at 0x40000, no INIT before it.
            g.Asm.@out(0x10, al);
            g.Asm.hlt();
        });
        Assert.Equal(0x10, guest.RunToOut(0).Port);
        // The SIPI wakes the AP's KVM_RUN, which drops it; a kick bounds the wait if it did not wake.
        using var kick = new Timer(_ => guest.Vcpus[1].Kick(), null, TimeSpan.FromSeconds(10), Timeout.InfiniteTimeSpan);
        Assert.Equal(Errno.EAGAIN, guest.Vcpus[1].Run().Errno);
        Assert.Equal(KvmMpState.Uninitialized, guest.Vcpus[1].GetMpState());
    }
}
