using System.Runtime.InteropServices;
using KvmSharp.Abi;
using static Iced.Intel.AssemblerRegisters;

namespace KvmSharp.Tests.Guests;

public class SmpGuestTests
{
    [Theory]
    [InlineData("host", 20_000)]   // Ring-0 code is emulated on this Host: keep it short.
    [InlineData("soft", 500_000)]
    public void TwoVcpusOnTwoThreadsCountExactlyWithLockXadd(string kernel, int iterations)
    {
        using var kvm = Kernels.Open(kernel);
        using var guest = new LongModeGuest(kvm, a =>
        {
            var loop = a.CreateLabel();
            a.mov(rbx, (long)LongModeGuest.DataAddress);
            a.mov(ecx, iterations);
            a.Label(ref loop);
            a.mov(eax, 1);
            a.@lock.xadd(__dword_ptr[rbx], eax);
            a.dec(ecx);
            a.jnz(loop);
            a.hlt();
        }, vcpus: 2);

        var exits = new KvmExitReason[2];
        // Each vCPU runs on its own thread, at the same time as the other.
        var threads = Enumerable.Range(0, 2).Select(i => new Thread(() => exits[i] = guest.Vcpus[i].Run().Reason)).ToArray();
        foreach (var thread in threads)
            thread.Start();
        foreach (var thread in threads)
            Assert.True(thread.Join(TimeSpan.FromMinutes(2)), "a vCPU did not finish");

        Assert.Equal([KvmExitReason.Hlt, KvmExitReason.Hlt], exits);
        uint count = MemoryMarshal.Read<uint>(guest.Ram.Span[(int)LongModeGuest.DataAddress..]);
        Assert.Equal((uint)(2 * iterations), count);
    }
}
