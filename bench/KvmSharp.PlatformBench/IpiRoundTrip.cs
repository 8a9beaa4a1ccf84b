using static Iced.Intel.AssemblerRegisters;

namespace KvmSharp.PlatformBench;

/// <summary>
/// IPI round trip between two vCPUs, timed by the guest's TSC: vCPU 0 sends a
/// fixed IPI to vCPU 1, whose handler answers with one back; vCPU 0 waits for
/// the answer in HLT (both sleep between messages) or spinning with
/// interrupts open (no wake-up in the path).
/// </summary>
public static class IpiRoundTrip
{
    private const int RequestVector = 0x41, ReplyVector = 0x42;
    private const int RepliesOffset = 0x100, ReadyOffset = 0x200, ElapsedOffset = 0x300, RoundsOffset = 0x308;

    /// <summary>Nanoseconds per round trip, one value per batch of <paramref name="rounds"/>.</summary>
    public static Samples Measure(Kvm kvm, int batches, int rounds, bool halt)
    {
        var values = new double[batches];
        for (int batch = 0; batch < batches; batch++)
        {
            using var guest = new PlatformGuest(kvm, 2, (a, gates) => Program(a, gates, halt));
            guest.SetData(RoundsOffset, (ulong)rounds);
            long tscKhz = guest.Vcpus[0].GetTscKhz();
            Exception? failure = null;
            var responder = guest.RunUntilKicked(1, e => failure = e);
            try
            {
                guest.RunToOut(0, 0x10);
            }
            finally
            {
                guest.Vcpus[1].Kick();
                responder.Join();
            }
            if (failure is not null)
                throw new InvalidOperationException("vCPU 1 failed.", failure);
            values[batch] = guest.Data(ElapsedOffset) * 1e6 / tscKhz / rounds;
        }
        return new Samples(values);
    }

    private static void Program(Iced.Intel.Assembler a, Dictionary<int, Iced.Intel.Label> gates, bool halt)
    {
        var waitForPartner = a.CreateLabel();
        var round = a.CreateLabel();
        var waitForReply = a.CreateLabel();
        var responder = a.CreateLabel();
        a.mov(__qword_ptr[r14 + rdi * 8 + ReadyOffset], 1);
        a.test(edi, edi);
        a.jnz(responder);

        a.Label(ref waitForPartner);
        a.pause();
        a.cmp(__qword_ptr[r14 + ReadyOffset + 8], 0);
        a.je(waitForPartner);
        a.rdtsc();
        a.shl(rdx, 32);
        a.or(rax, rdx);
        a.mov(r12, rax);
        a.xor(ebx, ebx);
        a.Label(ref round);
        a.inc(rbx);
        a.mov(__dword_ptr[r15 + PlatformGuest.IcrHigh], 1 << 24);
        a.mov(__dword_ptr[r15 + PlatformGuest.IcrLow], 0x4000 | RequestVector);
        a.Label(ref waitForReply);
        a.sti();
        if (halt)
            a.hlt();                                                // STI's shadow keeps the reply from slipping in before HLT.
        else
            a.pause();
        a.cli();
        a.cmp(__qword_ptr[r14 + RepliesOffset], rbx);
        a.jb(waitForReply);
        a.cmp(rbx, __qword_ptr[r14 + RoundsOffset]);
        a.jb(round);
        a.rdtsc();
        a.shl(rdx, 32);
        a.or(rax, rdx);
        a.sub(rax, r12);
        a.mov(__qword_ptr[r14 + ElapsedOffset], rax);
        a.@out(0x10, al);
        a.hlt();

        a.Label(ref responder);
        a.sti();
        if (halt)
            a.hlt();
        else
            a.pause();
        a.jmp(responder);

        var request = a.CreateLabel();
        a.Label(ref request);
        gates[RequestVector] = request;
        a.mov(__dword_ptr[r15 + PlatformGuest.IcrHigh], 0);
        a.mov(__dword_ptr[r15 + PlatformGuest.IcrLow], 0x4000 | ReplyVector);
        a.mov(__dword_ptr[r15 + PlatformGuest.Eoi], 0);
        a.iretq();

        var reply = a.CreateLabel();
        a.Label(ref reply);
        gates[ReplyVector] = reply;
        a.inc(__qword_ptr[r14 + RepliesOffset]);
        a.mov(__dword_ptr[r15 + PlatformGuest.Eoi], 0);
        a.iretq();
    }
}
