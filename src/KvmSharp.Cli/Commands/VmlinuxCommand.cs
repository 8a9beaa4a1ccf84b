using System.CommandLine;
using KvmSharp.Vmm.Boot;

namespace KvmSharp.Cli.Commands;

/// <summary>`kvmsharp vmlinux`: unpacks the ELF kernel inside a bzImage, which can then boot through PVH.</summary>
internal static class VmlinuxCommand
{
    public static Command Create(TextWriter output)
    {
        var bzImage = new Option<FileInfo>("--bzimage") { Description = "A bzImage (e.g. Debian's /boot/vmlinuz-*), gzip or LZ4 compressed.", Required = true };
        var destination = new Option<FileInfo>("--output", "-o") { Description = "Where to write the vmlinux.", Required = true };
        var command = new Command("vmlinux", "Extract the uncompressed ELF kernel (vmlinux) from a bzImage.") { bzImage, destination };
        command.SetAction(parsed =>
        {
            var source = parsed.GetValue(bzImage)!;
            if (!source.Exists)
                throw new CommandLineException($"--bzimage: {source.FullName} does not exist.");
            byte[] vmlinux;
            try
            {
                vmlinux = BzImagePayload.ExtractVmlinux(File.ReadAllBytes(source.FullName));
            }
            catch (BootImageException e)
            {
                throw new CommandLineException($"--bzimage: {e.Message}");
            }
            var file = parsed.GetValue(destination)!;
            File.WriteAllBytes(file.FullName, vmlinux);
            output.WriteLine($"wrote {file.FullName} ({vmlinux.Length / 1024} KiB)");
            return 0;
        });
        return command;
    }
}
