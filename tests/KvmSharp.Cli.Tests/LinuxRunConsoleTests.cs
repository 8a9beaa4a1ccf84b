using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using KvmSharp.Vmm.Tests.Machines;
using static Iced.Intel.AssemblerRegisters;

namespace KvmSharp.Cli.Tests;

/// <summary>
/// `kvmsharp run --kernel` with tiny assembled guests on Soft (a second or so
/// each, mostly process start): exit codes carry the guest's intent, and the
/// console works on a terminal (raw, Ctrl-A x), a file and a Unix socket.
/// </summary>
public class LinuxRunConsoleTests
{
    private static TinyGuest Printing(string text)
    {
        var guest = new TinyGuest();
        guest.Print(text);
        guest.PowerOff();
        return guest;
    }

    private static TinyGuest Rebooting()
    {
        var guest = new TinyGuest();
        guest.Code.mov(al, (byte)0xFE);
        guest.Code.@out((byte)0x64, al);
        guest.Hang();
        return guest;
    }

    private static TinyGuest TripleFaulting()
    {
        var guest = new TinyGuest();
        guest.Code.push(0);
        guest.Code.push(0);
        guest.Code.lidt(__[rsp + 6]);
        guest.Code.ud2();
        return guest;
    }

    private static TinyGuest Spinning()
    {
        var guest = new TinyGuest();
        var spin = guest.Code.CreateLabel();
        guest.Code.Label(ref spin);
        guest.Code.jmp(spin);
        return guest;
    }

    /// <summary>Echoes COM1 input upper-cased until '.', then powers off.</summary>
    private static TinyGuest Echoing()
    {
        var guest = new TinyGuest();
        guest.EchoUppercasedUntilDotThenPowerOff();
        return guest;
    }

    private static string[] RunArguments(string kernel, params string[] more) =>
        ["run", "--backend", "soft", "--kernel", kernel, "--mem", "64M", .. more];

    public static TheoryData<string, int, string> Endings => new()
    {
        { "power-off", 0, "outcome: the guest powered off" },
        { "reset", 3, "outcome: the guest asked for a reset" },
        { "triple fault", 1, "outcome: vCPU 0 triple-faulted at RIP 0x" },
    };

    [Theory]
    [MemberData(nameof(Endings))]
    public void TheExitCodeCarriesHowTheGuestEnded(string ending, int exitCode, string summary)
    {
        var guest = ending switch { "power-off" => Printing("bye\n"), "reset" => Rebooting(), _ => TripleFaulting() };
        string kernel = guest.WriteElf();
        try
        {
            var result = CliProcess.Run(RunArguments(kernel));
            Assert.True(exitCode == result.ExitCode, $"exit {result.ExitCode}\n{result.Stdout}\n{result.Stderr}");
            Assert.Contains(summary, result.Stdout);
        }
        finally
        {
            File.Delete(kernel);
        }
    }

    [Fact]
    public void SerialFileTakesTheConsoleAndStdoutKeepsTheSummary()
    {
        string kernel = Printing("to the file\n").WriteElf();
        string log = Path.Combine(Path.GetTempPath(), $"kvmsharp-console-{Guid.NewGuid():N}.log");
        try
        {
            var result = CliProcess.Run(RunArguments(kernel, "--serial", $"file:{log}"));
            Assert.Equal(0, result.ExitCode);
            Assert.Equal("to the file\n", File.ReadAllText(log));
            Assert.DoesNotContain("to the file", result.Stdout);
            Assert.Contains("outcome: the guest powered off", result.Stdout);
        }
        finally
        {
            File.Delete(kernel);
            File.Delete(log);
        }
    }

    [Fact]
    public async Task SerialUnixSocketCarriesTheConsoleBothWays()
    {
        string kernel = Echoing().WriteElf();
        string socketPath = Path.Combine(Path.GetTempPath(), $"kvmsharp-{Guid.NewGuid():N}.sock");
        try
        {
            var vmm = Task.Run(() => CliProcess.Run(RunArguments(kernel, "--serial", $"unix:{socketPath}")), TestContext.Current.CancellationToken);
            using var client = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            var deadline = DateTime.UtcNow.AddMinutes(1);
            while (true)
            {
                try
                {
                    await client.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), TestContext.Current.CancellationToken);
                    break;
                }
                catch (SocketException) when (DateTime.UtcNow < deadline)
                {
                    await Task.Delay(100, TestContext.Current.CancellationToken);
                }
            }
            await client.SendAsync("hi there."u8.ToArray(), TestContext.Current.CancellationToken);
            var received = new MemoryStream();
            var buffer = new byte[256];
            while (received.Length < "HI\0THERE".Length)
            {
                int count = await client.ReceiveAsync(buffer, TestContext.Current.CancellationToken);
                if (count == 0)
                    break;
                received.Write(buffer, 0, count);
            }
            var result = await vmm.WaitAsync(TimeSpan.FromMinutes(1), TestContext.Current.CancellationToken);
            Assert.Equal(0, result.ExitCode);
            // ' ' & 0xDF is NUL: the guest's own transformation, byte for byte.
            Assert.Equal("HI\0THERE", Encoding.Latin1.GetString(received.ToArray()));
            Assert.False(File.Exists(socketPath));
        }
        finally
        {
            File.Delete(kernel);
            File.Delete(socketPath);
        }
    }

    [Theory]
    [InlineData("INT")]
    [InlineData("TERM")]
    public async Task ASignalStopsTheMachineCleanlyWithExitCode4(string signal)
    {
        // The guest says so once it runs, which is after kvmsharp has installed its signal handlers.
        var guest = new TinyGuest();
        guest.Print("running\n");
        var spin = guest.Code.CreateLabel();
        guest.Code.Label(ref spin);
        guest.Code.jmp(spin);
        string kernel = guest.WriteElf();
        string log = Path.Combine(Path.GetTempPath(), $"kvmsharp-console-{Guid.NewGuid():N}.log");
        try
        {
            var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (string arg in (string[])[Path.Combine(AppContext.BaseDirectory, "KvmSharp.Cli.dll"), .. RunArguments(kernel, "--serial", $"file:{log}")])
                start.ArgumentList.Add(arg);
            using var process = Process.Start(start)!;
            var stdout = process.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
            var stderr = process.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
            while (!(File.Exists(log) && File.ReadAllText(log).Contains("running")) && !process.HasExited)
                await Task.Delay(50, TestContext.Current.CancellationToken);
            Process.Start("kill", ["-" + signal, process.Id.ToString()])!.WaitForExit();
            await process.WaitForExitAsync(TestContext.Current.CancellationToken).WaitAsync(TimeSpan.FromMinutes(1), TestContext.Current.CancellationToken);
            string output = await stdout;
            Assert.True(process.ExitCode == 4, $"exit {process.ExitCode}\n{output}\n{await stderr}");
            Assert.Contains($"outcome: {(signal == "INT" ? "Ctrl-C" : "SIGTERM")}", output);
        }
        finally
        {
            File.Delete(kernel);
            File.Delete(log);
        }
    }

    /// <summary>
    /// Runs kvmsharp on a pseudo-terminal made by script(1), typing
    /// <paramref name="keys"/> once the raw-mode notice appears, and records the
    /// terminal settings (stty -g) before and after.
    /// </summary>
    private static async Task<(int ExitCode, string Output, string Before, string After)> RunOnTerminal(string kernel, byte[] keys)
    {
        string dll = Path.Combine(AppContext.BaseDirectory, "KvmSharp.Cli.dll");
        string state = Path.Combine(Path.GetTempPath(), $"kvmsharp-tty-{Guid.NewGuid():N}");
        string command = $"stty -g > {state}.before; dotnet {dll} {string.Join(' ', RunArguments(kernel))}; code=$?; stty -g > {state}.after; exit $code";
        var start = new ProcessStartInfo("script") { RedirectStandardInput = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (string arg in new[] { "-qfec", command, "/dev/null" })
            start.ArgumentList.Add(arg);
        using var process = Process.Start(start)!;
        try
        {
            var output = new StringBuilder();
            var buffer = new char[1024];
            var deadline = DateTime.UtcNow.AddMinutes(1);
            while (!output.ToString().Contains("Ctrl-A x to quit") && DateTime.UtcNow < deadline)
            {
                int count = await process.StandardOutput.ReadAsync(buffer, TestContext.Current.CancellationToken);
                if (count == 0)
                    break;
                output.Append(buffer, 0, count);
            }
            await process.StandardInput.BaseStream.WriteAsync(keys, TestContext.Current.CancellationToken);
            await process.StandardInput.BaseStream.FlushAsync(TestContext.Current.CancellationToken);
            output.Append(await process.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken).WaitAsync(TimeSpan.FromMinutes(1), TestContext.Current.CancellationToken));
            await process.WaitForExitAsync(TestContext.Current.CancellationToken);
            return (process.ExitCode, output.ToString(), File.ReadAllText(state + ".before"), File.ReadAllText(state + ".after"));
        }
        finally
        {
            if (!process.HasExited)
                process.Kill(entireProcessTree: true);
            File.Delete(state + ".before");
            File.Delete(state + ".after");
        }
    }

    [Fact]
    public async Task OnATerminalKeysGoToTheGuestRawAndTheSettingsComeBack()
    {
        string kernel = Echoing().WriteElf();
        try
        {
            // No newline: a terminal in line mode would hold these keys back, and would echo them.
            var (exitCode, output, before, after) = await RunOnTerminal(kernel, "abc."u8.ToArray());
            Assert.True(exitCode == 0, $"exit {exitCode}\n{output}");
            Assert.Contains("ABC", output);
            Assert.DoesNotContain("abc", output);
            // System.Console would have switched the terminal to keypad-transmit mode; the guest owns the keys.
            Assert.DoesNotContain("\u001b[?1h", output);
            Assert.Equal(before, after);
        }
        finally
        {
            File.Delete(kernel);
        }
    }

    [Fact]
    public async Task CtrlAThenXQuitsAndTheSettingsComeBack()
    {
        string kernel = Spinning().WriteElf();
        try
        {
            var (exitCode, output, before, after) = await RunOnTerminal(kernel, [0x01, (byte)'x']);
            Assert.True(exitCode == 4, $"exit {exitCode}\n{output}");
            Assert.Contains("outcome: the quit key (Ctrl-A x)", output);
            Assert.Equal(before, after);
        }
        finally
        {
            File.Delete(kernel);
        }
    }
}
