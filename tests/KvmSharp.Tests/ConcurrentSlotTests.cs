using System.Runtime.InteropServices;
using KvmSharp.Abi;
using static Iced.Intel.AssemblerRegisters;

namespace KvmSharp.Tests;

public class ConcurrentSlotTests
{
    [Theory]
    [MemberData(nameof(Kernels.All), MemberType = typeof(Kernels))]
    public void ASlotDeletedUnderARunningVcpuIsNeverWrittenAgain(string kernel)
    {
        using var kvm = Kernels.Open(kernel);
        using var guest = new RealModeGuest(kvm, a =>
        {
            var loop = a.CreateLabel();
            a.mov(ax, 0x2000);
            a.mov(ds, ax);
            a.Label(ref loop);
            a.inc(__dword_ptr[0]);      // Guest physical 0x20000, in slot 1.
            a.jmp(loop);
        });
        using var data = new GuestMemory(0x1000);
        guest.Vm.SetUserMemoryRegion(1, 0x20000, 0x1000, data.Pointer);

        RunResult result = default;
        var runner = new Thread(() => result = guest.Vcpu.Run());
        runner.Start();
        SpinWait.SpinUntil(() => MemoryMarshal.Read<uint>(data.Span) > 100, TimeSpan.FromSeconds(30));
        guest.Vm.SetUserMemoryRegion(1, 0x20000, 0, data.Pointer);
        uint afterDelete = MemoryMarshal.Read<uint>(data.Span);
        Assert.True(runner.Join(TimeSpan.FromSeconds(30)), "the vCPU did not exit after its slot went away");

        Assert.True(afterDelete > 100);
        // The next access found no memory: an MMIO exit, and the old memory kept its value.
        Assert.Equal(KvmExitReason.Mmio, result.Reason);
        Assert.Equal(0x20000UL, guest.Vcpu.Mmio.PhysicalAddress);
        Assert.Equal(afterDelete, MemoryMarshal.Read<uint>(data.Span));
    }
}
