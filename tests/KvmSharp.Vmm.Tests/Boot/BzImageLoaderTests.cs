using KvmSharp.Abi;
using KvmSharp.Vmm.Boot;

namespace KvmSharp.Vmm.Tests.Boot;

public class BzImageLoaderTests
{
    private const ulong Ram = 128 << 20;

    private static LinuxBootOptions Options(string commandLine = "console=ttyS0", byte[]? initrd = null, ulong memory = Ram) =>
        new() { MemorySize = memory, CommandLine = commandLine, Initrd = initrd ?? ReadOnlyMemory<byte>.Empty };

    [Fact]
    public void PlacesKernelAtPrefAddressAndEntersAt0x200WithBootParamsInRsi()
    {
        var image = new SyntheticBzImage().Build();
        var plan = BzImageLoader.Load(image, Options());

        var kernel = plan.Write("kernel");
        Assert.Equal(0x100_0000UL, kernel.Address);
        Assert.Equal(image.AsSpan(1024).ToArray(), kernel.Bytes.ToArray());
        Assert.Equal(0x100_0200UL, plan.Regs.Rip);
        Assert.Equal(GuestMemoryLayout.ZeroPageAddress, plan.Regs.Rsi);
        Assert.Equal(2UL, plan.Regs.Rflags);
        Assert.Equal(EntryMode.Long64, plan.EntryMode);
    }

    [Fact]
    public void BootParamsCarryTheHeaderLoaderFieldsCommandLineInitrdAndE820()
    {
        var initrd = Enumerable.Range(0, 10_000).Select(i => (byte)i).ToArray();
        var plan = BzImageLoader.Load(new SyntheticBzImage().Build(), Options("console=ttyS0 quiet", initrd));
        var ram = new byte[Ram];
        plan.WriteTo(ram);
        var boot = new BootParamsReader(ram, plan.Regs.Rsi);

        Assert.Equal(0x53726448u, boot.Magic);
        Assert.Equal(0xAA55, boot.BootFlag);
        Assert.Equal(0xFF, boot.TypeOfLoader);
        Assert.Equal(0x81, boot.LoadFlags & 0x81);
        Assert.Equal(0xFE00, boot.HeapEndPtr);
        Assert.Equal("console=ttyS0 quiet", boot.CommandLine);

        Assert.Equal((ulong)initrd.Length, boot.RamdiskSize);
        Assert.Equal(0UL, boot.RamdiskImage % 4096);
        Assert.True(boot.RamdiskImage >= 0x100_0000 + 0x40_0000, "the initrd must not overlap the kernel's init_size");
        Assert.True(boot.RamdiskImage + boot.RamdiskSize <= Ram);
        Assert.Equal(initrd, ram.AsSpan((int)boot.RamdiskImage, initrd.Length).ToArray());

        Assert.Equal(plan.MemoryMap, boot.E820);
        Assert.Contains(boot.E820, e => e.Type == E820Type.Ram && e.Address == 0x10_0000 && e.End == Ram);
        Assert.Contains(boot.E820, e => e.Type == E820Type.Reserved && e.Address <= 0xE0000 && e.End >= 0x10_0000);
        Assert.All(boot.E820.Zip(boot.E820.Skip(1)), pair => Assert.True(pair.First.End <= pair.Second.Address));
    }

    [Fact]
    public void InitrdStaysBelowInitrdAddrMax()
    {
        var image = new SyntheticBzImage { InitrdAddrMax = 0x37FF_FFFF }.Build();
        var plan = BzImageLoader.Load(image, Options(initrd: new byte[5000], memory: 2UL << 30));
        var initrd = plan.Write("initrd");
        Assert.True(initrd.End <= 0x3800_0000);
        Assert.True(initrd.End > 0x3800_0000 - 0x2000, "the initrd goes as high as allowed");
    }

    [Fact]
    public void EntryStateIsFlatLongModeWithTheBootProtocolSelectors()
    {
        var plan = BzImageLoader.Load(new SyntheticBzImage().Build(), Options());
        KvmSregs sregs = default;
        sregs.ApicBase = 0xFEE0_0900;
        plan.ApplyTo(ref sregs);

        Assert.Equal(0x10, sregs.Cs.Selector);
        Assert.Equal((1, 0, 1, 0xB, 0UL, 0xFFFF_FFFFu), (sregs.Cs.L, sregs.Cs.Db, sregs.Cs.Present, sregs.Cs.Type, sregs.Cs.Base, sregs.Cs.Limit));
        foreach (var data in new[] { sregs.Ds, sregs.Es, sregs.Ss })
            Assert.Equal((0x18, 1, 3, 0xFFFF_FFFFu), (data.Selector, data.Db, data.Type, data.Limit));
        Assert.Equal((0xB, 1, 0), (sregs.Tr.Type, sregs.Tr.Present, sregs.Tr.S));
        Assert.Equal(0x500UL, sregs.Gdt.Base);
        Assert.Equal(0x500UL, sregs.Efer & 0x500);
        Assert.Equal(0x8000_0001UL, sregs.Cr0 & 0x8000_0001);
        Assert.Equal(0x20UL, sregs.Cr4 & 0x20);
        Assert.Equal(0xFEE0_0900UL, sregs.ApicBase);

        var ram = new byte[Ram];
        plan.WriteTo(ram);
        // The descriptors in guest memory agree with the hidden state: a reload of CS gives the same segment.
        ulong code = BitConverter.ToUInt64(ram, 0x500 + 0x10);
        Assert.Equal(0xAUL, (code >> 52) & 0xF); // G and L
        Assert.Equal(0x9BUL, (code >> 40) & 0xFF);
        foreach (ulong address in new ulong[] { 0, plan.Regs.Rip, plan.Regs.Rsi, 0x20000, Ram - 1, 0xFFFF_FFFF })
            Assert.Equal(address, PageTableWalk.Translate(ram, sregs.Cr3, address));
    }

    [Fact]
    public void WritesTheWholePlanIntoGuestRam()
    {
        var plan = BzImageLoader.Load(new SyntheticBzImage().Build(), Options(initrd: [1, 2, 3]));
        using var guestRam = new KvmSharp.Vmm.Memory.GuestRam(Ram);
        plan.WriteTo(guestRam);
        foreach (var write in plan.Writes)
            Assert.True(write.Bytes.Span.SequenceEqual(guestRam.Slice(write.Address, write.Bytes.Length)), write.ToString());
    }

    [Theory]
    [InlineData("truncated", "truncated")]
    [InlineData("magic", "HdrS")]
    [InlineData("old protocol", "2.05")]
    [InlineData("32-bit only", "64-bit")]
    [InlineData("syssize past end", "syssize")]
    [InlineData("bigger than RAM", "more memory")]
    [InlineData("command line too long", "command line")]
    [InlineData("initrd too big", "initrd")]
    [InlineData("RAM too small", "too small")]
    public void RefusesBadImagesNamingTheProblem(string problem, string expectedInMessage)
    {
        var image = new SyntheticBzImage().Build();
        var options = Options();
        switch (problem)
        {
            case "truncated": image = image[..0x100]; break;
            case "magic": image[0x203] = (byte)'X'; break;
            case "old protocol": image = new SyntheticBzImage { Version = 0x0205 }.Build(); break;
            case "32-bit only": image = new SyntheticBzImage { XLoadFlags = 0 }.Build(); break;
            case "syssize past end": image = new SyntheticBzImage { SyssizeOverride = 0x10_0000 }.Build(); break;
            case "bigger than RAM": image = new SyntheticBzImage { InitSize = 0x800_0000 }.Build(); break;
            case "command line too long": options = Options(new string('x', 0x800)); break;
            case "initrd too big": options = Options(initrd: new byte[Ram - (16 << 20)]); break;
            case "RAM too small": options = Options(memory: 1 << 20); break;
        }
        var error = Assert.Throws<BootImageException>(() => KernelLoader.Load(image, options));
        Assert.Contains(expectedInMessage, error.Message, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void EveryTruncationOrCorruptionIsABootImageExceptionNeverACrash()
    {
        var image = new SyntheticBzImage().Build();
        var random = new Random(6);
        for (int length = 0; length < 0x300; length++)
            Check(image[..length]);
        for (int i = 0; i < 2000; i++)
        {
            var corrupt = (byte[])image.Clone();
            corrupt[0x1F1 + random.Next(0x80)] = (byte)random.Next(256);
            Check(corrupt[..random.Next(corrupt.Length + 1)]);
        }

        static void Check(byte[] candidate)
        {
            try
            {
                KernelLoader.Load(candidate, Options(initrd: new byte[4096]));
            }
            catch (BootImageException)
            {
            }
        }
    }
}
