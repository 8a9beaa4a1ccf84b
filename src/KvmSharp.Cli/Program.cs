using KvmSharp.Cli;

return KvmSharpCommand.Run(args, StandardStreams.Writer(1), StandardStreams.Writer(2));
