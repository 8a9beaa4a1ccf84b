namespace KvmSharp.Cli.Commands;

/// <summary>Where the guest's console goes: --serial stdio | file:PATH | unix:PATH.</summary>
internal abstract record SerialTarget
{
    public sealed record Stdio : SerialTarget;
    /// <summary>Output to a file (truncated first); the guest gets no input.</summary>
    public sealed record File(string Path) : SerialTarget;
    /// <summary>A Unix socket the VMM listens on; one client at a time gets the console both ways.</summary>
    public sealed record UnixSocket(string Path) : SerialTarget;

    public static SerialTarget Parse(string value) => value switch
    {
        "stdio" => new Stdio(),
        _ when value.StartsWith("file:", StringComparison.Ordinal) && value.Length > 5 => new File(System.IO.Path.GetFullPath(value[5..])),
        _ when value.StartsWith("unix:", StringComparison.Ordinal) && value.Length > 5 => new UnixSocket(System.IO.Path.GetFullPath(value[5..])),
        _ => throw new CommandLineException($"--serial: \"{value}\" is not stdio, file:PATH or unix:PATH."),
    };
}
