using KvmSharp.Abi;
using static Iced.Intel.AssemblerRegisters;

namespace KvmSharp.Tests;

/// <summary>
/// KVM serializes every vCPU ioctl on the vCPU's mutex, and KVM_RUN holds it
/// for the whole run: another thread's KVM_GET_REGS waits until the run returns,
/// so it never sees registers mid-execution.
/// </summary>
public class VcpuSerializationTests
{
    private const ulong CounterAddress = 0x4000;

    [Theory]
    [MemberData(nameof(Kernels.All), MemberType = typeof(Kernels))]
    public void GetRegsFromAnotherThreadWaitsForRunToReturn(string kernel)
    {
        using var kvm = Kernels.Open(kernel);
        // Counts in ECX and publishes the count to memory, so the test can see
        // the guest make progress without asking the vCPU.
        using var guest = new RealModeGuest(kvm, a =>
        {
            var spin = a.CreateLabel();
            a.xor(ecx, ecx);
            a.Label(ref spin);
            a.inc(ecx);
            a.mov(__dword_ptr[(int)CounterAddress], ecx);
            a.jmp(spin);
        });

        var runner = new Thread(() => guest.Vcpu.Run()) { IsBackground = true };
        runner.Start();
        uint started = WaitForCounterAbove(guest, 0);

        KvmRegs readerRegs = default;
        var readerDone = new ManualResetEventSlim();
        var reader = new Thread(() =>
        {
            readerRegs = guest.Vcpu.GetRegs();
            readerDone.Set();
        }) { IsBackground = true };
        reader.Start();

        // The guest keeps counting well past the moment the reader called in,
        // and the reader is still waiting: the run holds the vCPU.
        Thread.Sleep(100);
        WaitForCounterAbove(guest, started + 1000);
        bool answeredDuringRun = readerDone.IsSet;
        guest.Vcpu.Kick();

        Assert.True(runner.Join(TimeSpan.FromSeconds(30)), "KVM_RUN did not return after a kick.");
        Assert.True(readerDone.Wait(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken), "KVM_GET_REGS did not return after KVM_RUN did.");
        Assert.False(answeredDuringRun, "KVM_GET_REGS answered while the vCPU was inside KVM_RUN.");
        // The reader saw the registers as the run left them, not a snapshot from mid-run.
        var final = guest.Vcpu.GetRegs();
        Assert.Equal(final.Rcx, readerRegs.Rcx);
        Assert.Equal(final.Rip, readerRegs.Rip);
    }

    private static uint WaitForCounterAbove(RealModeGuest guest, uint floor)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (DateTime.UtcNow < deadline)
        {
            uint count = BitConverter.ToUInt32(guest.Memory.Span[(int)CounterAddress..]);
            if (count > floor)
                return count;
            Thread.Sleep(1);
        }
        throw new TimeoutException($"The guest's counter did not pass {floor} within 30 s.");
    }
}
