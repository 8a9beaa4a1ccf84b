using System.Buffers.Binary;
using Iced.Intel;
using KvmSharp.Abi;
using KvmSharp.Vmm.Guests;

namespace KvmSharp.Vmm.Tests.Guests;

public class DefaultGuestTests
{
    [Fact]
    public void RingZeroPagesAreSupervisorOnlyAndRingThreePagesAreUser()
    {
        var guest = DefaultGuest.Build();
        var ram = guest.Image.ToArray();
        ulong pml4 = guest.Setup.Pml4Address;

        Assert.Equal(0UL, PageWalk.Rights(ram, pml4, DefaultGuest.KernelCodeAddress));
        Assert.Equal(X86.PteWritable, PageWalk.Rights(ram, pml4, DefaultGuest.KernelStackTop - 8));
        Assert.Equal(X86.PteUser, PageWalk.Rights(ram, pml4, DefaultGuest.SyscallTrampolineAddress));
        Assert.Equal(X86.PteUser, PageWalk.Rights(ram, pml4, DefaultGuest.UserCodeAddress));
        Assert.Equal(X86.PteUser | X86.PteWritable, PageWalk.Rights(ram, pml4, DefaultGuest.LineBufferAddress));
        Assert.Equal(X86.PteUser | X86.PteWritable, PageWalk.Rights(ram, pml4, DefaultGuest.UserStackTop - 8));
        Assert.Equal(0UL, PageWalk.Leaf(ram, pml4, 0));
        Assert.Equal(0UL, PageWalk.Leaf(ram, pml4, DefaultGuest.UserStackTop));
    }

    [Fact]
    public void RingZeroWorkPerLineIsAHandfulOfInstructionsAroundAThreeInstructionByteLoop()
    {
        var guest = DefaultGuest.Build();
        var path = StraightLine(guest.Image.ToArray(), guest.KernelCallEntry, Code.Sysretq);

        Assert.InRange(path.Count, 1, 12);
        int loop = path.FindIndex(i => i.Code is Code.Loop_rel8_64_RCX);
        Assert.True(loop >= 2, "the kernel call has no LOOP after its body");
        Assert.Equal(Code.Lodsb_AL_m8, path[loop - 2].Code);
        Assert.Equal(Code.Out_DX_AL, path[loop - 1].Code);
        Assert.Equal(path[loop - 2].IP, path[loop].NearBranchTarget);
    }

    [Theory]
    [InlineData(DefaultGuest.SyscallMsrWriter.Guest, 24)]
    [InlineData(DefaultGuest.SyscallMsrWriter.Host, 6)]
    public void RingZeroStartIsShortAndEndsInSysret(DefaultGuest.SyscallMsrWriter writer, int limit)
    {
        var guest = DefaultGuest.Build(writer);
        Assert.Equal(DefaultGuest.KernelCodeAddress, guest.Regs.Rip);
        var path = StraightLine(guest.Image.ToArray(), guest.Regs.Rip, Code.Sysretq);

        Assert.InRange(path.Count, 1, limit);
        Assert.Equal(Code.Lidt_m1664, path[0].Code);
        Assert.Equal(writer == DefaultGuest.SyscallMsrWriter.Guest ? 4 : 0, path.Count(i => i.Code == Code.Wrmsr));
    }

    [Fact]
    public void SyscallLandsOnAnInt3WhoseGateRing3MayUse()
    {
        var guest = DefaultGuest.Build();
        var ram = guest.Image.ToArray();
        Assert.Equal(0xCC, ram[DefaultGuest.SyscallTrampolineAddress]);

        var gate = ram.AsSpan((int)guest.Setup.IdtAddress + DefaultGuest.KernelCallVector * 16, 16);
        Assert.Equal(0xEE, gate[5]);
        ulong target = BinaryPrimitives.ReadUInt16LittleEndian(gate)
            | (ulong)BinaryPrimitives.ReadUInt16LittleEndian(gate[6..]) << 16
            | (ulong)BinaryPrimitives.ReadUInt32LittleEndian(gate[8..]) << 32;
        Assert.Equal(guest.KernelCallEntry, target);
    }

    [Fact]
    public void HostWrittenSyscallMsrsComeWithEferSce()
    {
        var byGuest = DefaultGuest.Build(DefaultGuest.SyscallMsrWriter.Guest);
        var byHost = DefaultGuest.Build(DefaultGuest.SyscallMsrWriter.Host);
        Assert.Empty(byGuest.HostMsrs);
        Assert.Equal([X86.MsrStar, X86.MsrLstar, X86.MsrSfmask], byHost.HostMsrs.Select(m => m.Index));
        Assert.Equal(DefaultGuest.SyscallTrampolineAddress, byHost.HostMsrs[1].Data);

        KvmSregs sregs = default;
        byGuest.ApplyTo(ref sregs);
        Assert.Equal(0UL, sregs.Efer & X86.EferSce);
        byHost.ApplyTo(ref sregs);
        Assert.Equal(X86.EferSce, sregs.Efer & X86.EferSce);
    }

    [Fact]
    public void TheReferencePictureHasTheAdvertisedShape()
    {
        string[] lines = MandelbrotReference.Text().Split('\n');
        Assert.Equal(DefaultGuest.Rows + 1, lines.Length);
        Assert.Equal("", lines[^1]);
        Assert.All(lines[..^1], line => Assert.Equal(DefaultGuest.Columns, line.Length));
        Assert.Contains('@', lines[DefaultGuest.Rows / 2]);
    }

    /// <summary>The instructions from <paramref name="start"/> up to and including the first <paramref name="last"/>, not following branches.</summary>
    private static List<Instruction> StraightLine(byte[] ram, ulong start, Code last)
    {
        var decoder = Decoder.Create(64, new ByteArrayCodeReader(ram, (int)start, ram.Length - (int)start), start);
        var path = new List<Instruction>();
        while (path.Count < 100)
        {
            var instruction = decoder.Decode();
            path.Add(instruction);
            if (instruction.Code == last)
                return path;
        }
        Assert.Fail($"No {last} within 100 instructions of 0x{start:x}.");
        return path;
    }
}
