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
        var command = new Command("run", "Boot a Linux kernel, or the embedded default guest (an ASCII Mandelbrot drawn in ring 3).")
        {
            backend, memory, kernel, initrd, append, cpus,
        };
        command.SetAction(parsed =>
        {
            ulong memoryBytes = parsed.GetValue(memory);
            return parsed.GetValue(kernel) is { } kernelFile
                ? RunLinux(output, parsed.GetValue(backend)!, memoryBytes == 0 ? 256UL << 20 : memoryBytes, kernelFile, parsed.GetValue(initrd), parsed.GetValue(append)!, parsed.GetValue(cpus))
                : Run(output, parsed.GetValue(backend)!, memoryBytes == 0 ? 64UL << 20 : memoryBytes);
        });
        return command;
    }

    private static int RunLinux(TextWriter output, string backend, ulong memoryBytes, FileInfo kernelFile, FileInfo? initrd, string commandLine, int cpus)
    {
        if (!kernelFile.Exists)
            throw new CommandLineException($"--kernel: {kernelFile.FullName} does not exist.");
        if (initrd is { Exists: false })
            throw new CommandLineException($"--initrd: {initrd.FullName} does not exist.");
        if (cpus is < 1 or > 64)
            throw new CommandLineException($"--cpus: {cpus} is not between 1 and 64.");
        if (memoryBytes < 32UL << 20 || memoryBytes > 3UL << 30 || memoryBytes % 4096 != 0)
            throw new CommandLineException($"--mem: a Linux guest needs between 32 MiB and 3 GiB, in whole pages; {memoryBytes} bytes was given.");
        var kernel = BackendOption.Open(backend);
        output.Flush();
        using var console = Console.OpenStandardOutput();
        LinuxMachine machine;
        try
        {
            machine = new LinuxMachine(kernel, new LinuxMachineOptions
            {
                KernelPath = kernelFile.FullName,
                InitrdPath = initrd?.FullName,
                CommandLine = commandLine,
                MemoryBytes = memoryBytes,
                Cpus = cpus,
                SerialOutput = console,
            });
        }
        catch (Vmm.Boot.BootImageException e)
        {
            throw new CommandLineException(e.Message);
        }
        using (machine)
        {
            machine.ConnectSerialInput(Console.OpenStandardInput());
            Console.CancelKeyPress += (_, e) =>
            {
                e.Cancel = true;
                machine.Stop("Ctrl-C");
            };
            MachineExit exit = machine.Run();
            output.WriteLine();
            output.WriteLine($"kernel: {kernel.Name}    outcome: {exit.Reason}    wall time: {exit.WallTime.TotalSeconds:F1} s");
            output.WriteLine($"exits: {exit.Exits.Total} ({string.Join(", ", exit.Exits.NonZero().Select(e => $"{e.Reason} {e.Count}"))})");
            return exit.Reason == "the guest powered off" ? 0 : 1;
        }
    }

    private static int Run(TextWriter output, string backend, ulong memoryBytes)
    {
        if (memoryBytes < DefaultGuest.MemorySize || memoryBytes % 4096 != 0)
            throw new CommandLineException($"--mem: the default guest needs a multiple of 4 KiB and at least {DefaultGuest.MemorySize >> 10} KiB; {memoryBytes} bytes was given.");
        var kernel = BackendOption.Open(backend);
        output.Flush();
        using var console = Console.OpenStandardOutput();
        RunSummary summary = DefaultGuestMachine.Run(kernel, memoryBytes, console);
        output.WriteLine();
        output.WriteLine($"kernel: {summary.Kernel}    outcome: {summary.Outcome} ({summary.Detail})    wall time: {summary.WallTime.TotalMilliseconds:F1} ms");
        output.WriteLine($"exits: {summary.Exits.Total} ({string.Join(", ", summary.Exits.NonZero().Select(e => $"{e.Reason} {e.Count}"))})");
        return summary.Outcome == GuestOutcome.PoweredOff ? 0 : 1;
    }
}
