using System.CommandLine;
using KvmSharp.Vmm.Guests;
using KvmSharp.Vmm.Machines;

namespace KvmSharp.Cli.Commands;

/// <summary>`kvmsharp run`: boots the embedded default guest and prints what it wrote, then a summary.</summary>
internal static class RunCommand
{
    public static Command Create(TextWriter output, TextWriter error)
    {
        var backend = BackendOption.Create();
        var memory = new Option<ulong>("--mem")
        {
            Description = "Guest memory, e.g. 64M or 1G (default: 64M for the default guest, 256M for a Linux kernel).",
            DefaultValueFactory = _ => 0,
            CustomParser = result =>
            {
                string text = result.Tokens.Count > 0 ? result.Tokens[0].Value : "";
                if (SizeParser.TryParse(text, out ulong bytes, out string? problem))
                    return bytes;
                result.AddError($"--mem: {problem}.");
                return 0;
            },
        };
        var kernel = new Option<FileInfo?>("--kernel") { Description = "A Linux kernel (bzImage or vmlinux) to boot; without it, the embedded default guest runs." };
        var initrd = new Option<FileInfo?>("--initrd") { Description = "An initramfs for the kernel (see `kvmsharp initrd`)." };
        var append = new Option<string>("--append") { Description = "The kernel command line.", DefaultValueFactory = _ => "console=ttyS0 quiet" };
        var cpus = new Option<int>("--cpus") { Description = "Number of vCPUs.", DefaultValueFactory = _ => 1 };
        var disks = new Option<string[]>("--disk") { Description = "A raw disk image for a virtio disk (/dev/vda, /dev/vdb…): PATH, PATH,rw or PATH,ro. Repeatable." };
        var serial = new Option<string>("--serial")
        {
            Description = "The guest's console: stdio (the terminal, raw; Ctrl-A x quits), file:PATH (output only) or unix:PATH (a socket to connect to, e.g. with socat).",
            DefaultValueFactory = _ => "stdio",
        };
        var command = new Command("run", "Boot a Linux kernel, or the embedded default guest (an ASCII Mandelbrot drawn in ring 3).")
        {
            backend, memory, kernel, initrd, append, cpus, disks, serial,
        };
        command.SetAction(parsed =>
        {
            ulong memoryBytes = parsed.GetValue(memory);
            return parsed.GetValue(kernel) is { } kernelFile
                ? LinuxRun.Run(output, error, new LinuxRunRequest(parsed.GetValue(backend)!, memoryBytes == 0 ? 256UL << 20 : memoryBytes, kernelFile,
                    parsed.GetValue(initrd), parsed.GetValue(append)!, parsed.GetValue(cpus), parsed.GetValue(disks) ?? [], parsed.GetValue(serial)!))
                : Run(output, parsed.GetValue(backend)!, memoryBytes == 0 ? 64UL << 20 : memoryBytes);
        });
        return command;
    }

    private static int Run(TextWriter output, string backend, ulong memoryBytes)
    {
        if (memoryBytes < DefaultGuest.MemorySize || memoryBytes % 4096 != 0)
            throw new CommandLineException($"--mem: the default guest needs a multiple of 4 KiB and at least {DefaultGuest.MemorySize >> 10} KiB; {memoryBytes} bytes was given.");
        var kernel = BackendOption.Open(backend);
        output.Flush();
        using var console = StandardStreams.Open(1, FileAccess.Write);
        RunSummary summary = DefaultGuestMachine.Run(kernel, memoryBytes, console);
        output.WriteLine();
        output.WriteLine($"kernel: {summary.Kernel}    outcome: {summary.Outcome} ({summary.Detail})    wall time: {summary.WallTime.TotalMilliseconds:F1} ms");
        output.WriteLine($"exits: {summary.Exits.Total} ({string.Join(", ", summary.Exits.NonZero().Select(e => $"{e.Reason} {e.Count}"))})");
        return summary.Outcome == GuestOutcome.PoweredOff ? 0 : 1;
    }
}
