using System.Buffers.Binary;
using KvmSharp.Abi;
using KvmSharp.Vmm.Boot;

namespace KvmSharp.Vmm.Tests.Boot;

public class ElfLoaderTests
{
    private const ulong Ram = 64 << 20;
    private const ulong KernelVirtualBase = 0xFFFF_FFFF_8100_0000;

    private static SyntheticElf Kernel(uint? pvhEntry = 0x100_0040) => new()
    {
        Entry = 0x100_0000,
        PvhEntry = pvhEntry,
        Segments =
        {
            (0x100_0000, KernelVirtualBase, Enumerable.Range(0, 0x2000).Select(i => (byte)i).ToArray(), 0x2000),
            (0x120_0000, KernelVirtualBase + 0x20_0000, [1, 2, 3, 4], 0x10_0000),
        },
    };

    private static LinuxBootOptions Options(byte[]? initrd = null, bool preferPvh = true) => new()
    {
        MemorySize = Ram,
        CommandLine = "console=ttyS0",
        Initrd = initrd ?? ReadOnlyMemory<byte>.Empty,
        PreferPvh = preferPvh,
    };

    [Fact]
    public void PvhEntryIs32BitProtectedModeWithStartInfoInRbx()
    {
        var plan = KernelLoader.Load(Kernel().Build(), Options(initrd: new byte[3000]));
        Assert.Equal(EntryMode.Protected32, plan.EntryMode);
        Assert.Equal(0x100_0040UL, plan.Regs.Rip);
        Assert.Equal(PvhLoader.StartInfoAddress, plan.Regs.Rbx);

        KvmSregs sregs = default;
        plan.ApplyTo(ref sregs);
        Assert.Equal((0, 1, 0xB, 0UL, 0xFFFF_FFFFu), (sregs.Cs.L, sregs.Cs.Db, sregs.Cs.Type, sregs.Cs.Base, sregs.Cs.Limit));
        Assert.Equal((1, 3), (sregs.Ds.Db, sregs.Ds.Type));
        Assert.Equal(1UL, sregs.Cr0 & 0x8000_0001);
        Assert.Equal((0UL, 0UL), (sregs.Cr4, sregs.Efer));
        Assert.Equal(0xB, sregs.Tr.Type);
    }

    [Fact]
    public void StartInfoCarriesMemmapCommandLineAndInitrdModule()
    {
        var initrd = new byte[3000];
        initrd[0] = 0x42;
        var plan = KernelLoader.Load(Kernel().Build(), Options(initrd));
        var ram = new byte[Ram];
        plan.WriteTo(ram);
        var info = ram.AsSpan((int)plan.Regs.Rbx);
        Assert.Equal(0x336E_C578u, BinaryPrimitives.ReadUInt32LittleEndian(info));
        Assert.Equal(1u, BinaryPrimitives.ReadUInt32LittleEndian(info[4..]));
        Assert.Equal(1u, BinaryPrimitives.ReadUInt32LittleEndian(info[12..]));
        ulong cmdline = BinaryPrimitives.ReadUInt64LittleEndian(info[24..]);
        Assert.Equal("console=ttyS0\0"u8.ToArray(), ram.AsSpan((int)cmdline, 14).ToArray());

        ulong modules = BinaryPrimitives.ReadUInt64LittleEndian(info[16..]);
        ulong initrdAddress = BinaryPrimitives.ReadUInt64LittleEndian(ram.AsSpan((int)modules));
        Assert.Equal(3000UL, BinaryPrimitives.ReadUInt64LittleEndian(ram.AsSpan((int)modules + 8)));
        Assert.Equal(0x42, ram[initrdAddress]);
        Assert.True(initrdAddress >= 0x130_0000, "the initrd stays clear of the kernel's BSS");

        ulong memmap = BinaryPrimitives.ReadUInt64LittleEndian(info[40..]);
        uint count = BinaryPrimitives.ReadUInt32LittleEndian(info[48..]);
        var entries = Enumerable.Range(0, (int)count).Select(i =>
        {
            var e = ram.AsSpan((int)memmap + 24 * i, 24);
            return new E820Entry(BinaryPrimitives.ReadUInt64LittleEndian(e), BinaryPrimitives.ReadUInt64LittleEndian(e[8..]), (E820Type)BinaryPrimitives.ReadUInt32LittleEndian(e[16..]));
        });
        Assert.Equal(plan.MemoryMap, entries);
    }

    [Fact]
    public void SegmentsLoadAtPhysicalAddresses()
    {
        var plan = KernelLoader.Load(Kernel().Build(), Options());
        var ram = new byte[Ram];
        plan.WriteTo(ram);
        Assert.Equal(Enumerable.Range(0, 0x2000).Select(i => (byte)i), ram.AsSpan(0x100_0000, 0x2000).ToArray());
        Assert.Equal([1, 2, 3, 4], ram.AsSpan(0x120_0000, 4).ToArray());
    }

    [Fact]
    public void VmlinuxEntryUses64BitProtocolWithSynthesizedBootParams()
    {
        var plan = KernelLoader.Load(Kernel(pvhEntry: null).Build(), Options(initrd: new byte[100]));
        Assert.Equal(EntryMode.Long64, plan.EntryMode);
        Assert.Equal(0x100_0000UL, plan.Regs.Rip);
        var ram = new byte[Ram];
        plan.WriteTo(ram);
        var boot = new BootParamsReader(ram, plan.Regs.Rsi);
        Assert.Equal(0x53726448u, boot.Magic);
        Assert.Equal(0xAA55, boot.BootFlag);
        Assert.Equal(0xFF, boot.TypeOfLoader);
        Assert.Equal("console=ttyS0", boot.CommandLine);
        Assert.Equal(100UL, boot.RamdiskSize);
        Assert.Equal(plan.MemoryMap, boot.E820);

        var viaProtocol = KernelLoader.Load(Kernel().Build(), Options(preferPvh: false));
        Assert.Equal(EntryMode.Long64, viaProtocol.EntryMode);
    }

    [Fact]
    public void VirtualEntryPointIsTranslatedToItsPhysicalAddress()
    {
        var elf = Kernel(pvhEntry: null);
        var plan = KernelLoader.Load(new SyntheticElf { Entry = KernelVirtualBase + 0x10, Segments = { elf.Segments[0] } }.Build(), Options());
        Assert.Equal(0x100_0010UL, plan.Regs.Rip);
    }

    [Theory]
    [InlineData("truncated", "truncated")]
    [InlineData("32-bit class", "ELF64")]
    [InlineData("segment beyond RAM", "does not fit")]
    [InlineData("entry outside segments", "entry point")]
    [InlineData("PVH entry outside segments", "PVH entry")]
    public void RefusesBadElfKernels(string problem, string expectedInMessage)
    {
        byte[] image = Kernel().Build();
        switch (problem)
        {
            case "truncated": image = image[..(image.Length - 100)]; break;
            case "32-bit class": image[4] = 1; break;
            case "segment beyond RAM": image = new SyntheticElf { Entry = 0x100_0000, Segments = { (0x100_0000, 0, [1], Ram) } }.Build(); break;
            case "entry outside segments": image = new SyntheticElf { Entry = 0x50_0000, Segments = { (0x100_0000, 0x100_0000, [1], 16) } }.Build(); break;
            case "PVH entry outside segments": image = new SyntheticElf { Entry = 0x100_0000, PvhEntry = 0x90_0000, Segments = { (0x100_0000, 0x100_0000, [1], 16) } }.Build(); break;
        }
        var error = Assert.Throws<BootImageException>(() => KernelLoader.Load(image, Options()));
        Assert.Contains(expectedInMessage, error.Message);
    }

    [Fact]
    public void EveryTruncationOrCorruptionIsABootImageExceptionNeverACrash()
    {
        byte[] image = Kernel().Build();
        var random = new Random(64);
        for (int length = 0; length < 400; length++)
            Check(image[..length]);
        for (int i = 0; i < 3000; i++)
        {
            var corrupt = (byte[])image.Clone();
            for (int j = random.Next(1, 4); j > 0; j--)
                corrupt[random.Next(0x140)] = (byte)random.Next(256);
            Check(corrupt);
        }

        static void Check(byte[] candidate)
        {
            try
            {
                KernelLoader.Load(candidate, Options(initrd: new byte[10]));
            }
            catch (BootImageException)
            {
            }
        }
    }
}
