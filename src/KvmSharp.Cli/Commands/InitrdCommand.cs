using System.CommandLine;
using KvmSharp.Vmm.Initramfs;

namespace KvmSharp.Cli.Commands;

/// <summary>`kvmsharp initrd`: a small initramfs (cpio newc) from a static busybox and an init script.</summary>
internal static class InitrdCommand
{
    public static Command Create(TextWriter output)
    {
        var busybox = new Option<FileInfo>("--busybox") { Description = "A statically linked busybox (Debian's busybox-static: /bin/busybox).", DefaultValueFactory = _ => new FileInfo("/bin/busybox") };
        var init = new Option<FileInfo?>("--init") { Description = "The /init script; by default an interactive shell that powers off when it ends." };
        var modules = new Option<DirectoryInfo?>("--modules") { Description = "A kernel's lib/modules/<version> directory to take modules from." };
        var module = new Option<string[]>("--module") { Description = "A module to include with its dependencies (repeatable), e.g. virtio_blk.", AllowMultipleArgumentsPerToken = true };
        var destination = new Option<FileInfo>("--output", "-o") { Description = "Where to write the initramfs.", Required = true };
        var gzip = new Option<bool>("--gzip") { Description = "Compress the archive with gzip." };
        var command = new Command("initrd", "Build an initramfs from a static busybox and an init script.") { busybox, init, modules, module, destination, gzip };
        command.SetAction(parsed =>
        {
            var busyboxFile = parsed.GetValue(busybox)!;
            if (!busyboxFile.Exists)
                throw new CommandLineException($"--busybox: {busyboxFile.FullName} does not exist (apt-get install busybox-static).");
            var initFile = parsed.GetValue(init);
            if (initFile is { Exists: false })
                throw new CommandLineException($"--init: {initFile.FullName} does not exist.");
            string script = initFile is null ? InitScripts.InteractiveShell : File.ReadAllText(initFile.FullName);
            var builder = InitramfsBuilder.WithBusybox(File.ReadAllBytes(busyboxFile.FullName), script);
            string[] names = parsed.GetValue(module) ?? [];
            if (names.Length > 0)
            {
                var directory = parsed.GetValue(modules) ?? throw new CommandLineException("--module needs --modules, the kernel's lib/modules/<version> directory.");
                if (!directory.Exists)
                    throw new CommandLineException($"--modules: {directory.FullName} does not exist.");
                try
                {
                    builder.AddModules(directory.FullName, names);
                }
                catch (Exception e) when (e is ArgumentException or FileNotFoundException or InvalidOperationException)
                {
                    throw new CommandLineException($"--module: {e.Message}");
                }
            }
            var file = parsed.GetValue(destination)!;
            builder.WriteTo(file.FullName, parsed.GetValue(gzip));
            output.WriteLine($"wrote {file.FullName} ({file.Length / 1024} KiB)");
            return 0;
        });
        return command;
    }
}
