using KvmSharp.Vmm.Boot;

namespace KvmSharp.Vmm.Tests.Boot;

/// <summary>Debian's cloud kernel, as tests/assets/fetch.sh unpacks it.</summary>
public class RealKernelTests
{
    private const ulong Ram = 512 << 20;

    [Fact]
    public void DebianCloudKernelHasA64BitRelocatableSetupHeader()
    {
        var image = File.ReadAllBytes(TestAssets.Vmlinuz);
        var header = SetupHeader.Parse(image);

        Assert.True(header.Version >= 0x020C, $"protocol {header.VersionText}");
        Assert.True(header.SupportsKernel64Entry);
        Assert.True(header.RelocatableKernel);
        Assert.Equal(0x100_0000UL, header.PrefAddress);
        Assert.True(header.InitSize > image.Length - header.ProtectedModeOffset, "the decompressor needs more room than the file");
        Assert.True(header.CmdlineSize >= 255);
    }

    [Fact]
    public void BootPlanForDebianCloudKernelWithABusyboxInitramfs()
    {
        var image = File.ReadAllBytes(TestAssets.Vmlinuz);
        var header = SetupHeader.Parse(image);
        byte[] initramfs = KvmSharp.Vmm.Initramfs.InitramfsBuilder.WithBusybox(File.ReadAllBytes(TestAssets.Busybox), "#!/bin/sh\necho hello\n").Build();
        var plan = KernelLoader.Load(image, new LinuxBootOptions
        {
            MemorySize = Ram,
            CommandLine = "console=ttyS0 reboot=t",
            Initrd = initramfs,
        });

        var ram = new byte[Ram];
        plan.WriteTo(ram);
        var boot = new BootParamsReader(ram, plan.Regs.Rsi);
        Assert.Equal(header.PrefAddress + 0x200, plan.Regs.Rip);
        Assert.Equal(image.AsSpan(header.ProtectedModeOffset, 4096).ToArray(), ram.AsSpan((int)header.PrefAddress, 4096).ToArray());
        Assert.Equal(image.AsSpan(0x1F1, 0x210 - 0x1F1).ToArray(), ram.AsSpan((int)plan.Regs.Rsi + 0x1F1, 0x210 - 0x1F1).ToArray());
        Assert.Equal("console=ttyS0 reboot=t", boot.CommandLine);
        Assert.True(boot.RamdiskImage >= header.PrefAddress + header.InitSize);
        Assert.True(boot.RamdiskImage + boot.RamdiskSize - 1 <= header.InitrdAddrMax);
        Assert.Equal(initramfs, ram.AsSpan((int)boot.RamdiskImage, (int)boot.RamdiskSize).ToArray());
        Assert.Equal(Ram, boot.E820.Where(e => e.Type == E820Type.Ram).Max(e => e.End));
    }

    [Fact]
    public void DebianCloudKernelPayloadIsAVmlinuxWithAPvhEntry()
    {
        var image = File.ReadAllBytes(TestAssets.Vmlinuz);
        var vmlinux = BzImagePayload.ExtractVmlinux(image);
        var elf = ElfImage.Parse(vmlinux);

        Assert.Equal(0x100_0000UL, elf.Entry); // phys_startup_64
        Assert.All(elf.LoadSegments, s => Assert.True(s.PhysicalAddress >= 0x100_0000));
        uint? pvhEntry = PvhLoader.EntryPoint(elf);
        Assert.NotNull(pvhEntry);

        var options = new LinuxBootOptions { MemorySize = Ram, CommandLine = "console=ttyS0", Initrd = new byte[8192] };
        var pvh = KernelLoader.Load(vmlinux, options);
        Assert.Equal(EntryMode.Protected32, pvh.EntryMode);
        Assert.Equal(pvhEntry.Value, pvh.Regs.Rip);

        var direct = KernelLoader.Load(vmlinux, options with { PreferPvh = false });
        Assert.Equal(EntryMode.Long64, direct.EntryMode);
        Assert.Equal(0x100_0000UL, direct.Regs.Rip);
        var ram = new byte[Ram];
        direct.WriteTo(ram);
        var text = elf.LoadSegments[0];
        Assert.Equal(vmlinux.AsSpan((int)text.FileOffset, 4096).ToArray(), ram.AsSpan((int)text.PhysicalAddress, 4096).ToArray());
    }

    [Fact]
    public void CorruptPayloadIsABootImageExceptionNeverACrash()
    {
        var image = File.ReadAllBytes(TestAssets.Vmlinuz);
        var header = SetupHeader.Parse(image);
        int payload = header.ProtectedModeOffset + (int)header.PayloadOffset;
        var random = new Random(8);
        for (int i = 0; i < 3; i++)
        {
            var corrupt = (byte[])image.Clone();
            for (int j = 0; j < 16; j++)
                corrupt[payload + 4 + random.Next(0x4000)] = (byte)random.Next(256);
            try
            {
                ElfImage.Parse(BzImagePayload.ExtractVmlinux(corrupt));
            }
            catch (BootImageException)
            {
            }
        }
        var cut = image[..(payload + 0x1000)];
        Assert.Throws<BootImageException>(() => BzImagePayload.ExtractVmlinux(cut));
    }

    [Fact]
    public void DebianCloudKernelIsRefusedWhenItsInitSizeOrTheInitrdDoesNotFit()
    {
        var image = File.ReadAllBytes(TestAssets.Vmlinuz);
        var header = SetupHeader.Parse(image);
        ulong needed = header.PrefAddress + header.InitSize;

        var small = Assert.Throws<BootImageException>(() => KernelLoader.Load(image, new LinuxBootOptions { MemorySize = needed - (4 << 20) }));
        Assert.Contains("init_size", small.Message);

        var tight = Assert.Throws<BootImageException>(() => KernelLoader.Load(image, new LinuxBootOptions { MemorySize = (needed + (8 << 20)) & ~0xFFFFFUL, Initrd = new byte[16 << 20] }));
        Assert.Contains("initrd", tight.Message);
    }
}
