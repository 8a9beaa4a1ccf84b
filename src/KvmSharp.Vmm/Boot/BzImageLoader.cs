using KvmSharp.Abi;

namespace KvmSharp.Vmm.Boot;

/// <summary>
/// Loads a bzImage for the 64-bit boot protocol: the protected-mode kernel at
/// its preferred address, boot_params with the kernel's own setup header, the
/// command line and initrd, and vCPU state at the 64-bit entry (load address + 0x200).
/// </summary>
public static class BzImageLoader
{
    /// <summary>The 64-bit entry point's offset from the protected-mode kernel's start.</summary>
    public const ulong Entry64Offset = 0x200;

    /// <summary>Where protocol 2.10+ kernels without pref_address, and older ones, are loaded.</summary>
    public const ulong DefaultLoadAddress = 0x100000;

    public static BootPlan Load(ReadOnlyMemory<byte> image, LinuxBootOptions options)
    {
        var header = SetupHeader.Parse(image.Span);
        var layout = new GuestMemoryLayout(options.MemorySize);
        var kernel = image[header.ProtectedModeOffset..];

        ulong loadAddress = LoadAddress(header);
        // The kernel decompresses itself in place and needs init_size bytes from where it runs.
        ulong footprint = Math.Max(header.InitSize, (ulong)kernel.Length);
        ulong kernelEnd = loadAddress + footprint;
        if (kernelEnd > layout.LowRamEnd)
            throw new BootImageException($"The kernel needs {BootPlacement.Mib(footprint)} from 0x{loadAddress:x} (init_size), beyond the {BootPlacement.Mib(layout.LowRamEnd)} of guest RAM; give the guest more memory.");

        byte[] commandLine = BootPlacement.CommandLine(options.CommandLine, header.CmdlineSize);
        var writes = BootPlacement.CommonWrites(commandLine, options.Firmware);
        writes.Add(new BootWrite("kernel", loadAddress, kernel));

        var map = layout.E820Map();
        var zeroPage = new ZeroPage(header.Raw).SetCommandLine(GuestMemoryLayout.CommandLineAddress).SetE820(map).SetAcpiRsdp(options.Firmware.RsdpAddress);
        if (!options.Initrd.IsEmpty)
        {
            // initrd_addr_max is the last byte the initrd may occupy.
            ulong limit = Math.Min((ulong)header.InitrdAddrMax + 1, layout.LowRamEnd);
            string reason = limit == layout.LowRamEnd ? "the end of low RAM" : "the kernel's initrd_addr_max";
            ulong address = BootPlacement.Initrd((ulong)options.Initrd.Length, AlignUp(kernelEnd, BootPlacement.PageSize), limit, reason);
            writes.Add(new BootWrite("initrd", address, options.Initrd));
            zeroPage.SetRamdisk(address, (ulong)options.Initrd.Length);
        }
        writes.Add(new BootWrite("boot_params", GuestMemoryLayout.ZeroPageAddress, zeroPage.ToArray()));

        var regs = new KvmRegs
        {
            Rip = loadAddress + Entry64Offset,
            Rsi = GuestMemoryLayout.ZeroPageAddress,
            Rsp = GuestMemoryLayout.BootStackTop,
            Rflags = 2,
        };
        return new BootPlan(layout, EntryMode.Long64, regs, writes, map);
    }

    private static ulong LoadAddress(SetupHeader header)
    {
        if (header.Version < 0x020A || header.PrefAddress == 0)
            return DefaultLoadAddress;
        ulong address = header.PrefAddress;
        if (header.RelocatableKernel)
            address = AlignUp(address, header.KernelAlignment);
        return address;
    }

    private static ulong AlignUp(ulong value, ulong alignment) => (value + alignment - 1) & ~(alignment - 1);
}
