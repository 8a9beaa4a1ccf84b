using KvmSharp.Vmm.Machines;

namespace KvmSharp.Cli.Commands;

/// <summary>--disk PATH[,ro|,rw]: a raw image the guest sees as a virtio disk.</summary>
internal static class DiskOption
{
    public static DiskOptions Parse(string value)
    {
        string path = value;
        bool readOnly = false;
        if (value.EndsWith(",ro", StringComparison.Ordinal) || value.EndsWith(",rw", StringComparison.Ordinal))
        {
            readOnly = value.EndsWith(",ro", StringComparison.Ordinal);
            path = value[..^3];
        }
        if (path.Length == 0)
            throw new CommandLineException($"--disk: \"{value}\" names no image file (expected PATH, PATH,ro or PATH,rw).");
        var file = new FileInfo(path);
        if (!file.Exists)
            throw new CommandLineException($"--disk: {file.FullName} does not exist (create one with e.g. `truncate -s 64M disk.img`).");
        if (file.Length < 512)
            throw new CommandLineException($"--disk: {file.FullName} is {file.Length} bytes, smaller than one 512-byte sector.");
        return new DiskOptions(file.FullName, readOnly);
    }
}
