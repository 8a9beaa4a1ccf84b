using KvmSharp.Abi;
using KvmSharp.Tests.Guests;
using KvmSharp.Vmm.Memory;

namespace KvmSharp.Tests.Platform;

/// <summary>A vCPU asleep inside KVM_RUN (halted, or an AP waiting for INIT) must not hold up the VM's other ioctls.</summary>
public class SleepingVcpuTests
{
    public static TheoryData<string, bool> KernelsAndSleepKinds()
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
    [MemberData(nameof(KernelsAndSleepKinds))]
    public void AMemorySlotChangesWhileAVcpuSleepsInKvmRun(string kernel, bool waitingForInit)
    {
        using var kvm = Kernels.Open(kernel);
        // vCPU 0 halts with interrupts off (nothing wakes it); vCPU 1 is an AP that never gets INIT.
        using var guest = new ApicGuest(kvm, 2, g =>
        {
            g.Asm.cli();
            g.Asm.hlt();
        });
        int sleeper = waitingForInit ? 1 : 0;
        RunResult exit = default;
        var thread = new Thread(() => exit = guest.Vcpus[sleeper].Run());
        thread.Start();
        Thread.Sleep(200);
        using var extra = new GuestRam(0x10000);
        var change = new Thread(() =>
        {
            guest.Vm.SetUserMemoryRegion(1, 0x4000_0000, extra.Size, extra.Address);
            guest.Vm.SetUserMemoryRegion(1, 0x4000_0000, 0, extra.Address);
        });
        change.Start();
        bool changed = change.Join(TimeSpan.FromSeconds(10));
        guest.Vcpus[sleeper].Kick();
        Assert.True(thread.Join(TimeSpan.FromSeconds(10)), "the sleeping vCPU did not stop when kicked.");
        Assert.True(changed, "KVM_SET_USER_MEMORY_REGION waited for a sleeping vCPU.");
        Assert.Equal(KvmExitReason.Intr, exit.Reason);
        Assert.Equal(Errno.EINTR, exit.Errno);
    }
}
