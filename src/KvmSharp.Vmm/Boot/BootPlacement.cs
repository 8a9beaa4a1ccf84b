using System.Text;

namespace KvmSharp.Vmm.Boot;

/// <summary>Placement rules the bzImage, vmlinux and PVH loaders share.</summary>
internal static class BootPlacement
{
    public const ulong PageSize = 4096;

    /// <summary>The command line as the kernel reads it: ASCII-compatible bytes ending in NUL.</summary>
    public static byte[] CommandLine(string commandLine, ulong maxLength)
    {
        if (commandLine.Contains('\0'))
            throw new BootImageException("The kernel command line contains a NUL character.");
        byte[] text = Encoding.UTF8.GetBytes(commandLine);
        ulong limit = Math.Min(maxLength, GuestMemoryLayout.CommandLineLimit - 1);
        if ((ulong)text.Length > limit)
            throw new BootImageException($"The kernel command line is {text.Length} bytes; this kernel accepts at most {limit}.");
        var bytes = new byte[text.Length + 1];
        text.CopyTo(bytes, 0);
        return bytes;
    }

    /// <summary>
    /// The highest page-aligned address where <paramref name="size"/> bytes of initrd
    /// end at or below <paramref name="limit"/> and start at or above <paramref name="lowest"/>,
    /// as boot loaders do so that the kernel's own decompression room stays free.
    /// </summary>
    public static ulong Initrd(ulong size, ulong lowest, ulong limit, string limitReason)
    {
        if (size > limit || ((limit - size) & ~(PageSize - 1)) < lowest)
        {
            throw new BootImageException(
                $"The initrd ({Mib(size)}) does not fit: it must lie between the kernel's end at 0x{lowest:x} and 0x{limit:x} ({limitReason}), which leaves {Mib(limit > lowest ? limit - lowest : 0)}.");
        }
        return (limit - size) & ~(PageSize - 1);
    }

    /// <summary>The writes every entry path needs: GDT and TSS, page tables, command line, firmware tables.</summary>
    public static List<BootWrite> CommonWrites(byte[] commandLine, FirmwareTables firmware)
    {
        var writes = new List<BootWrite>
        {
            new("boot GDT and TSS", GuestMemoryLayout.GdtAddress, BootGdt.Build()),
            new("identity page tables", IdentityPageTables.Pml4Address, IdentityPageTables.Build()),
            new("command line", GuestMemoryLayout.CommandLineAddress, commandLine),
        };
        foreach (var write in firmware.Writes)
        {
            if (write.Address < GuestMemoryLayout.BiosAreaStart || write.End > GuestMemoryLayout.BiosAreaEnd)
                throw new BootImageException($"Firmware table {write} lies outside the BIOS area [0x{GuestMemoryLayout.BiosAreaStart:x}, 0x{GuestMemoryLayout.BiosAreaEnd:x}) that the memory map reserves.");
            writes.Add(write);
        }
        return writes;
    }

    public static string Mib(ulong bytes) => bytes >= 1 << 20 ? $"{bytes / (double)(1 << 20):0.#} MiB" : $"{bytes} bytes";
}
