using System.Text;
using KvmSharp.Vmm.Initramfs;
using KvmSharp.Vmm.Machines;

namespace KvmSharp.Vmm.Tests.Machines;

/// <summary>
/// The README's embedding example, line for line: it boots Debian's kernel on Soft
/// to the interactive shell `kvmsharp initrd` builds, waits for its prompt on the
/// console, types `poweroff -f`, and awaits the exit.
/// </summary>
[Collection(nameof(WorkingDirectoryCollection))]
public class ReadmeEmbeddingExampleTests
{
    [Fact]
    public async Task TheReadmeEmbeddingExampleBootsToAShellAndPowersOffThroughTheConsole()
    {
        // The example names its files relative to the working directory.
        string directory = Directory.CreateTempSubdirectory("kvmsharp-readme-").FullName;
        string previous = Environment.CurrentDirectory;
        try
        {
            File.Copy(Path.Combine(BootAssets.Directory, "vmlinuz"), Path.Combine(directory, "vmlinuz"));
            File.Move(BootAssets.BuildInitramfs(InitScripts.InteractiveShell), Path.Combine(directory, "initrd.img"));
            File.Move(BootAssets.CreateDisk(2048), Path.Combine(directory, "disk.img"));
            Environment.CurrentDirectory = directory;
            var cancellationToken = new CancellationTokenSource(TimeSpan.FromMinutes(5)).Token;

            // The README's lines pass no token to the console calls; the machine's own token bounds the run.
#pragma warning disable xUnit1051
            // --- README begins ---
            using var machine = new LinuxMachine(KernelChoice.Open("soft"), new LinuxMachineOptions
            {
                KernelPath = "vmlinuz", InitrdPath = "initrd.img", Cpus = 2, MemoryBytes = 512UL << 20,
                CommandLine = "console=ttyS0 quiet pci=off", Disks = [new DiskOptions("disk.img", ReadOnly: false)],
            });
            Task<MachineExit> run = machine.RunAsync(cancellationToken);   // one thread per vCPU
            string seen = "";
            var buffer = new byte[4096];
            for (int n; !seen.Contains("/ # ") && (n = await machine.Console.ReadAsync(buffer)) > 0;)
                seen += Encoding.UTF8.GetString(buffer, 0, n);              // the guest's console output, up to the prompt…
            await machine.Console.WriteAsync("poweroff -f\n"u8.ToArray());   // …then its keyboard (keys typed while it boots are lost, as on a real serial line)
            MachineExit exit = await run;                                   // exit.Kind: PowerOff, Reboot, TripleFault, Stopped…
            // --- README ends ---
#pragma warning restore xUnit1051

            Assert.True(exit.Kind == MachineExitKind.PowerOff, $"{exit.Kind}: {exit.Reason}\n{seen}");
            Assert.Contains("KvmSharp initramfs on 6.1.", seen);
        }
        finally
        {
            Environment.CurrentDirectory = previous;
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public void TheReadmeShowsExactlyTheCodeThisTestRuns() =>
        ReadmeSnippet.AssertMatches("new LinuxMachine(", "tests/KvmSharp.Vmm.Tests/Machines/ReadmeEmbeddingExampleTests.cs");
}

/// <summary>Tests that change the process's working directory run alone.</summary>
[CollectionDefinition(nameof(WorkingDirectoryCollection), DisableParallelization = true)]
public sealed class WorkingDirectoryCollection;
