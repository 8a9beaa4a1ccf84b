using System.Net.Sockets;
using System.Runtime.InteropServices;
using KvmSharp.Cli.Terminal;
using KvmSharp.Kernel;
using KvmSharp.Vmm.Devices;
using KvmSharp.Vmm.Machines;

namespace KvmSharp.Cli.Commands;

/// <summary>What `kvmsharp run --kernel …` needs from the command line.</summary>
internal sealed record LinuxRunRequest(
    string Backend, ulong MemoryBytes, FileInfo Kernel, FileInfo? Initrd, string CommandLine, int Cpus,
    IReadOnlyList<string> Disks, string Serial);

/// <summary>
/// Boots a Linux kernel with its console on the terminal (raw mode, Ctrl-A x
/// quits), a file or a Unix socket, and exits with the guest's intent:
/// 0 powered off, 3 rebooted, 4 stopped by the user, 1 crashed or failed.
/// </summary>
internal static class LinuxRun
{
    public const int PoweredOff = 0, Failed = 1, Rebooted = 3, StoppedByUser = 4;

    public static int Run(TextWriter output, TextWriter error, LinuxRunRequest request)
    {
        if (!request.Kernel.Exists)
            throw new CommandLineException($"--kernel: {request.Kernel.FullName} does not exist.");
        if (request.Initrd is { Exists: false })
            throw new CommandLineException($"--initrd: {request.Initrd.FullName} does not exist.");
        if (request.Cpus is < 1 or > 64)
            throw new CommandLineException($"--cpus: {request.Cpus} is not between 1 and 64.");
        if (request.MemoryBytes < 32UL << 20 || request.MemoryBytes > 3UL << 30 || request.MemoryBytes % 4096 != 0)
            throw new CommandLineException($"--mem: a Linux guest needs between 32 MiB and 3 GiB, in whole pages; {request.MemoryBytes} bytes was given.");
        var disks = request.Disks.Select(DiskOption.Parse).ToArray();
        if (disks.Length > LinuxMachine.MaxVirtioDevices - 2)
            throw new CommandLineException($"--disk: at most {LinuxMachine.MaxVirtioDevices - 2} disks fit beside the virtio console and entropy source; {disks.Length} were given.");
        var serial = SerialTarget.Parse(request.Serial);
        IKvmKernel kernel = BackendOption.Open(request.Backend);
        output.Flush();

        using var stdout = StandardStreams.Open(1, FileAccess.Write);
        using var serialFile = serial is SerialTarget.File file ? OpenSerialFile(file.Path) : null;
        Stream? consoleOutput = serial switch
        {
            SerialTarget.Stdio => stdout,
            SerialTarget.File => serialFile,
            _ => null, // A socket reads it from machine.Console when a client connects.
        };

        LinuxMachine machine;
        try
        {
            machine = new LinuxMachine(kernel, new LinuxMachineOptions
            {
                KernelPath = request.Kernel.FullName,
                InitrdPath = request.Initrd?.FullName,
                CommandLine = request.CommandLine,
                MemoryBytes = request.MemoryBytes,
                Cpus = request.Cpus,
                Disks = disks,
                ConsoleOutput = consoleOutput,
                DeviceLog = DeviceLogs.To(error),
            });
        }
        catch (Exception e) when (e is Vmm.Boot.BootImageException or ArgumentException)
        {
            throw new CommandLineException(e.Message);
        }

        using (machine)
        {
            bool userStopped = false;
            void StopByUser(string why)
            {
                userStopped = true;
                machine.Stop(why);
            }
            using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, context => { context.Cancel = true; StopByUser("Ctrl-C"); });
            using var terminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context => { context.Cancel = true; StopByUser("SIGTERM"); });

            MachineExit exit;
            RawTerminal? raw = null;
            Task? socketServer = null;
            try
            {
                var run = machine.RunAsync();
                switch (serial)
                {
                    case SerialTarget.Stdio:
                        raw = RawTerminal.TryEnter(0);
                        if (raw is not null)
                            error.Write("kvmsharp: the console is raw; press Ctrl-A x to quit.\r\n");
                        _ = PumpKeyboard(machine, raw is not null, () => StopByUser("the quit key (Ctrl-A x)"));
                        break;
                    case SerialTarget.UnixSocket socket:
                        socketServer = ServeSocket(machine, socket.Path, run);
                        break;
                }
                exit = run.GetAwaiter().GetResult();
                // The guest's last words may still be on their way to the socket's client: let them drain (the
                // console ends once the machine has stopped), but a client that stopped reading cannot hold us.
                socketServer?.Wait(SocketDrainLimit);
            }
            finally
            {
                raw?.Dispose();
            }
            output.WriteLine();
            output.WriteLine($"kernel: {kernel.Name}    outcome: {exit.Reason}    wall time: {exit.WallTime.TotalSeconds:F1} s");
            output.WriteLine($"exits: {exit.Exits.Total} ({string.Join(", ", exit.Exits.NonZero().Select(e => $"{e.Reason} {e.Count}"))})");
            return exit.Kind switch
            {
                MachineExitKind.PowerOff => PoweredOff,
                MachineExitKind.Reboot => Rebooted,
                MachineExitKind.Stopped when userStopped => StoppedByUser,
                _ => Failed,
            };
        }
    }

    private static FileStream OpenSerialFile(string path)
    {
        try
        {
            return new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.Read, bufferSize: 0);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CommandLineException($"--serial: cannot write {path}: {e.Message}");
        }
    }

    /// <summary>Keys from stdin to the guest's console; on a raw terminal, Ctrl-A x quits instead.</summary>
    private static Task PumpKeyboard(LinuxMachine machine, bool interactive, Action quit) => Task.Factory.StartNew(() =>
    {
        using var stdin = StandardStreams.Open(0, FileAccess.Read);
        var filter = new QuitKeyFilter();
        var buffer = new byte[1024];
        while (true)
        {
            int count;
            try
            {
                count = stdin.Read(buffer);
            }
            catch (IOException)
            {
                return;
            }
            if (count == 0)
                return;
            if (!interactive)
            {
                machine.Console.Write(buffer.AsSpan(0, count));
                continue;
            }
            machine.Console.Write(filter.Filter(buffer.AsSpan(0, count)));
            if (filter.QuitRequested)
            {
                quit();
                return;
            }
        }
    }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);

    private static readonly TimeSpan SocketDrainLimit = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Listens on a Unix socket; each client in turn gets the console's output and types into it. Ends when the
    /// machine has stopped and the connected client, if any, has been sent all the console's output.
    /// </summary>
    private static async Task ServeSocket(LinuxMachine machine, string path, Task<MachineExit> run)
    {
        File.Delete(path);
        using var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(path));
        listener.Listen(1);
        try
        {
            while (!run.IsCompleted)
            {
                var accepting = listener.AcceptAsync();
                if (await Task.WhenAny(accepting, run).ConfigureAwait(false) == run)
                    break;
                using var client = await accepting.ConfigureAwait(false);
                await using var stream = new NetworkStream(client, ownsSocket: false);
                var toGuest = stream.CopyToAsync(machine.Console);
                var fromGuest = machine.Console.CopyToAsync(stream);
                await Task.WhenAny(toGuest, fromGuest).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is SocketException or IOException or ObjectDisposedException)
        {
        }
        finally
        {
            File.Delete(path);
        }
    }
}
