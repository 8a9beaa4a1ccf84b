namespace KvmSharp.Vmm.Boot;

/// <summary>Picks the loader for a kernel image by its format: bzImage, or ELF through PVH or the 64-bit protocol.</summary>
public static class KernelLoader
{
    public static BootPlan Load(ReadOnlyMemory<byte> image, LinuxBootOptions options)
    {
        if (SetupHeader.LooksLikeBzImage(image.Span))
            return BzImageLoader.Load(image, options);
        if (ElfImage.LooksLikeElf(image.Span))
        {
            var elf = ElfImage.Parse(image);
            return options.PreferPvh && PvhLoader.EntryPoint(elf) is not null
                ? PvhLoader.Load(elf, options)
                : VmlinuxLoader.Load(elf, options);
        }
        if (image.Length < 0x206)
            throw new BootImageException($"The kernel image is truncated ({image.Length} bytes): neither a bzImage setup header nor an ELF header fits.");
        throw new BootImageException("The kernel image is neither a bzImage (no \"HdrS\" at 0x202 with boot flag 0xaa55) nor an ELF file.");
    }

    public static BootPlan Load(string path, LinuxBootOptions options) => Load(File.ReadAllBytes(path), options);
}
