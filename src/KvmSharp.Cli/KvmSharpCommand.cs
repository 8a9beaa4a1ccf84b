using System.CommandLine;
using KvmSharp.Cli.Commands;

namespace KvmSharp.Cli;

/// <summary>
/// The `kvmsharp` command line. Bad input gets one line on stderr naming what
/// was wrong and exit code 2; no stack traces.
/// </summary>
public static class KvmSharpCommand
{
    public const int UsageError = 2;

    private static string OneLine(string message) =>
        string.Join(' ', message.Split(['\n', '\r', '\t'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));

    public static int Run(string[] args, TextWriter output, TextWriter error)
    {
        var root = new RootCommand("KvmSharp: the Linux KVM API in C#, with a software kernel and a virtual machine monitor.");
        root.Subcommands.Add(InfoCommand.Create(output));
        root.Subcommands.Add(RunCommand.Create(output, error));
        root.Subcommands.Add(InitrdCommand.Create(output));
        root.Subcommands.Add(VmlinuxCommand.Create(output));

        ParseResult parsed = root.Parse(args);
        if (parsed.Errors.Count > 0)
        {
            error.WriteLine($"kvmsharp: {OneLine(string.Join(" ", parsed.Errors.Select(e => e.Message)))}");
            return UsageError;
        }
        try
        {
            return parsed.Invoke(new InvocationConfiguration { Output = output, Error = error, EnableDefaultExceptionHandler = false });
        }
        catch (CommandLineException e)
        {
            error.WriteLine($"kvmsharp: {e.Message}");
            return UsageError;
        }
        catch (KvmException e)
        {
            error.WriteLine($"kvmsharp: {e.Message}");
            return 1;
        }
        catch (NotSupportedException e)
        {
            error.WriteLine($"kvmsharp: {e.Message}");
            return 1;
        }
    }
}

/// <summary>A user mistake found after parsing (an unreadable file, a size too small…).</summary>
public sealed class CommandLineException(string message) : Exception(message);
