using System.Buffers.Binary;
using KvmSharp.Abi;
using KvmSharp.Vmm.Guests;

namespace KvmSharp.Vmm.Tests.Guests;

public class LongModeSetupTests
{
    private const ulong Ram = 0x40_0000;

    [Fact]
    public void SegmentCachesDescribeLongModeKernelAndUserSegments()
    {
        var setup = new LongModeSetup(Ram);
        KvmSregs sregs = default;
        setup.ApplyTo(ref sregs);

        Assert.Equal(LongModeSetup.KernelCodeSelector, sregs.Cs.Selector);
        Assert.Equal((1, 0, 0, 0xB, 1, 1), (sregs.Cs.L, sregs.Cs.Db, sregs.Cs.Dpl, sregs.Cs.Type, sregs.Cs.S, sregs.Cs.Present));
        Assert.Equal(0xFFFF_FFFFu, sregs.Cs.Limit);
        Assert.Equal((0, 1, 0, 3), (sregs.Ss.L, sregs.Ss.Db, sregs.Ss.Dpl, sregs.Ss.Type));

        var userCode = setup.SegmentCache(LongModeSetup.UserCodeSelector);
        Assert.Equal((1, 3, 0xB), (userCode.L, userCode.Dpl, userCode.Type));
        var userData = setup.SegmentCache(LongModeSetup.UserDataSelector);
        Assert.Equal((0, 3, 3), (userData.L, userData.Dpl, userData.Type));

        Assert.Equal(LongModeSetup.TssSelector, sregs.Tr.Selector);
        Assert.Equal(setup.TssAddress, sregs.Tr.Base);
        Assert.Equal(103u, sregs.Tr.Limit);
        Assert.Equal((0xB, 0, 1), (sregs.Tr.Type, sregs.Tr.S, sregs.Tr.Present));
        Assert.Equal(1, sregs.Ldt.Unusable);

        Assert.Equal(setup.GdtAddress, sregs.Gdt.Base);
        Assert.Equal(X86.EferLme | X86.EferLma, sregs.Efer);
        Assert.Equal(setup.Pml4Address, sregs.Cr3);
        Assert.NotEqual(0UL, sregs.Cr0 & X86.Cr0Pg);
        Assert.NotEqual(0UL, sregs.Cr4 & X86.Cr4Pae);
    }

    [Fact]
    public void StarMakesSyscallAndSysretUseTheGdtSelectors()
    {
        ulong star = LongModeSetup.StarValue;
        Assert.Equal(LongModeSetup.KernelCodeSelector, (ushort)(star >> 32));
        Assert.Equal(LongModeSetup.KernelDataSelector, (ushort)((star >> 32) + 8));
        Assert.Equal(LongModeSetup.UserDataSelector, (ushort)((star >> 48) + 8));
        Assert.Equal(LongModeSetup.UserCodeSelector, (ushort)((star >> 48) + 16));
    }

    [Fact]
    public void PagesAreIdentityMappedWithTheAskedRights()
    {
        var setup = new LongModeSetup(Ram);
        setup.Place(0x20_0000, [0x90, 0x90], PageAccess.UserReadOnly);
        setup.Map(0x30_1000, 0x1001, PageAccess.UserWritable);
        setup.Map(0x10_0000, 1, PageAccess.KernelWritable);
        var ram = setup.BuildImage().ToArray();

        Assert.Equal(X86.PteUser, PageWalk.Rights(ram, setup.Pml4Address, 0x20_0000));
        Assert.Equal(X86.PteUser | X86.PteWritable, PageWalk.Rights(ram, setup.Pml4Address, 0x30_1000));
        Assert.Equal(X86.PteUser | X86.PteWritable, PageWalk.Rights(ram, setup.Pml4Address, 0x30_2000));
        Assert.Equal(X86.PteWritable, PageWalk.Rights(ram, setup.Pml4Address, 0x10_0000));
        Assert.NotEqual(0UL, PageWalk.Leaf(ram, setup.Pml4Address, setup.GdtAddress) & X86.PtePresent);
        Assert.Equal(0UL, PageWalk.Rights(ram, setup.Pml4Address, setup.GdtAddress));
        Assert.Equal(0UL, PageWalk.Leaf(ram, setup.Pml4Address, 0x30_3000));
        Assert.Equal(0UL, PageWalk.Leaf(ram, setup.Pml4Address, 0));
        Assert.Equal(new byte[] { 0x90, 0x90 }, ram[0x20_0000..0x20_0002]);
    }

    [Fact]
    public void InterruptGatesPointAtTheirHandlers()
    {
        var setup = new LongModeSetup(Ram);
        setup.SetInterruptGate(14, 0x1234_5678_9ABC);
        setup.SetInterruptGate(3, 0x2000, dpl: 3);
        var ram = setup.BuildImage().ToArray();
        var pageFault = ram.AsSpan((int)setup.IdtAddress + 14 * 16, 16);
        ulong target = BinaryPrimitives.ReadUInt16LittleEndian(pageFault)
            | (ulong)BinaryPrimitives.ReadUInt16LittleEndian(pageFault[6..]) << 16
            | (ulong)BinaryPrimitives.ReadUInt32LittleEndian(pageFault[8..]) << 32;
        Assert.Equal(0x1234_5678_9ABCUL, target);
        Assert.Equal(LongModeSetup.KernelCodeSelector, BinaryPrimitives.ReadUInt16LittleEndian(pageFault[2..]));
        Assert.Equal(0x8E, pageFault[5]);
        Assert.Equal(0xEE, ram[(int)setup.IdtAddress + 3 * 16 + 5]);

        var pseudo = ram.AsSpan((int)setup.IdtPseudoDescriptorAddress, 10);
        Assert.Equal(setup.IdtLimit, BinaryPrimitives.ReadUInt16LittleEndian(pseudo));
        Assert.Equal(setup.IdtAddress, BinaryPrimitives.ReadUInt64LittleEndian(pseudo[2..]));
    }

    [Fact]
    public void PlacingOutsideRamIsRefused()
    {
        var setup = new LongModeSetup(Ram);
        Assert.Throws<ArgumentOutOfRangeException>(() => setup.Place(Ram - 1, [1, 2], PageAccess.KernelReadOnly));
        Assert.Throws<ArgumentOutOfRangeException>(() => new LongModeSetup(0x1800));
    }
}
