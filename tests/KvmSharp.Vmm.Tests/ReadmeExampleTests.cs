using KvmSharp.Abi;
using KvmSharp.Kernel;

namespace KvmSharp.Vmm.Tests;

/// <summary>The README's typed-API example, line for line, so the README cannot rot.</summary>
public class ReadmeExampleTests
{
    [Fact]
    public void TheReadmeExampleRunsAndPrintsThePortWrite()
    {
        if (!new HostKernel().IsAvailable())
            Assert.Skip("/dev/kvm cannot be opened on this machine.");
        var printed = new StringWriter();
        var previous = Console.Out;
        Console.SetOut(printed);
        try
        {
            // --- README begins ---
            using var kvm = Kvm.Open(new HostKernel());          // checks KVM_GET_API_VERSION == 12
            using var vm = kvm.CreateVm();
            using var ram = new KvmSharp.Vmm.Memory.GuestRam(0x10000);
            ram.Span[0x1000] = 0xe6; ram.Span[0x1001] = 0x10;    // out 0x10, al
            ram.Span[0x1002] = 0xf4;                             // hlt
            vm.SetUserMemoryRegion(slot: 0, guestPhysAddr: 0, size: ram.Size, hostAddress: ram.Address);
            using var vcpu = vm.CreateVcpu(0);
            var sregs = vcpu.GetSregs(); sregs.Cs.Base = 0; sregs.Cs.Selector = 0; vcpu.SetSregs(sregs);
            vcpu.SetRegs(new KvmRegs { Rip = 0x1000, Rflags = 2, Rax = 0x42 });
            while (vcpu.Run().Reason is var exit && exit != KvmExitReason.Hlt)
                if (exit == KvmExitReason.Io)
                    Console.WriteLine($"port 0x{vcpu.Io.Port:x}: {vcpu.Io.Data[0]:x2}");   // port 0x10: 42
            // --- README ends ---
        }
        finally
        {
            Console.SetOut(previous);
        }
        Assert.Equal("port 0x10: 42\n", printed.ToString());
    }

    [Fact]
    public void TheReadmeShowsExactlyTheCodeThisTestRuns() =>
        ReadmeSnippet.AssertMatches("Kvm.Open(new HostKernel())", "tests/KvmSharp.Vmm.Tests/ReadmeExampleTests.cs");
}
