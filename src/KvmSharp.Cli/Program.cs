using KvmSharp.Cli;

return KvmSharpCommand.Run(args, Console.Out, Console.Error);
