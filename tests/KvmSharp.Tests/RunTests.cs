using KvmSharp.Abi;
using static Iced.Intel.AssemblerRegisters;

namespace KvmSharp.Tests;

public class RunTests
{
    [Theory]
    [MemberData(nameof(Kernels.All), MemberType = typeof(Kernels))]
    public void OutExitCarriesPortSizeAndData(string kernel)
    {
        using var kvm = Kernels.Open(kernel);
        using var guest = new RealModeGuest(kvm, a =>
        {
            a.mov(dx, 0x3f8);
            a.mov(al, 0x41);
            a.@out(dx, al);
            a.mov(ax, 0x4243);
            a.@out(dx, ax);
            a.hlt();
        });

        var first = guest.Vcpu.Run();
        Assert.Equal(KvmExitReason.Io, first.Reason);
        var io = guest.Vcpu.Io;
        Assert.True(io.IsOut);
        Assert.Equal(0x3f8, io.Port);
        Assert.Equal(1, io.Size);
        Assert.Equal(1u, io.Count);
        Assert.Equal(new byte[] { 0x41 }, io.Data.ToArray());

        Assert.Equal(KvmExitReason.Io, guest.Vcpu.Run().Reason);
        Assert.Equal(2, guest.Vcpu.Io.Size);
        Assert.Equal(new byte[] { 0x43, 0x42 }, guest.Vcpu.Io.Data.ToArray());

        Assert.Equal(KvmExitReason.Hlt, guest.Vcpu.Run().Reason);
    }
}
