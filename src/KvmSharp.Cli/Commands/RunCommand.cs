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
            Description = "Guest memory, e.g. 64M or 1G.",
            DefaultValueFactory = _ => 64UL << 20,
            CustomParser = result =>
            {
                string text = result.Tokens.Count > 0 ? result.Tokens[0].Value : "";
                if (SizeParser.TryParse(text, out ulong bytes, out string? problem))
                    return bytes;
                result.AddError($"--mem: {problem}.");
                return 0;
            },
        };
        var command = new Command("run", "Boot the embedded default guest (an ASCII Mandelbrot drawn in ring 3).") { backend, memory };
        command.SetAction(parsed => Run(output, parsed.GetValue(backend)!, parsed.GetValue(memory)));
        return command;
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
