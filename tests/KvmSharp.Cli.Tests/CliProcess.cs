using System.Diagnostics;

namespace KvmSharp.Cli.Tests;

/// <summary>Runs the real `kvmsharp` program in a child process, as a user would.</summary>
public static class CliProcess
{
    public sealed record Result(int ExitCode, string Stdout, string Stderr);

    public static Result Run(IReadOnlyDictionary<string, string>? environment, params string[] args) => Run(environment, TimeSpan.FromMinutes(2), args);

    /// <summary>Runs kvmsharp, killing it after <paramref name="limit"/> (a Linux boot on a busy machine needs minutes).</summary>
    public static Result Run(IReadOnlyDictionary<string, string>? environment, TimeSpan limit, params string[] args)
    {
        string dll = Path.Combine(AppContext.BaseDirectory, "KvmSharp.Cli.dll");
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(dll);
        foreach (string arg in args)
            start.ArgumentList.Add(arg);
        if (environment is not null)
            foreach (var (key, value) in environment)
                start.Environment[key] = value;
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(limit))
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
            throw new TimeoutException($"kvmsharp {string.Join(' ', args)} did not finish in {limit.TotalMinutes} minutes. It printed:\n{stdout.Result}\n{stderr.Result}");
        }
        return new Result(process.ExitCode, stdout.Result, stderr.Result);
    }

    public static Result Run(params string[] args) => Run(null, args);
}
