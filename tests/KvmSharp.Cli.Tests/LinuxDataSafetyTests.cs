using System.Diagnostics;
using System.Text;
using KvmSharp.Vmm.Tests.Machines;

namespace KvmSharp.Cli.Tests;

/// <summary>
/// What a guest wrote to its virtio disk and synced survives `kvmsharp run`
/// being killed with SIGKILL the moment the guest says so: completed writes
/// are in the host's page cache, not in a buffer of the dead process.
/// </summary>
[Collection(LinuxBoots.Name)]
public class LinuxDataSafetyTests
{
    private const string Pattern = "KVMSHARP-SYNCED-BEFORE-THE-KILL";

    private static readonly string Init = $$"""
        #!/bin/sh
        mount -t proc proc /proc
        mount -t sysfs sysfs /sys
        mount -t devtmpfs devtmpfs /dev
        /sbin/load-modules || echo "KVMSHARP-MODULES-FAILED"
        echo -n {{Pattern}} > /tmp/pattern
        dd if=/tmp/pattern of=/dev/vda bs=512 seek=16 conv=sync,fsync 2>/dev/null && sync && echo "KVMSHARP-SYNCED"
        sleep 600

        """;

    [Fact]
    public async Task ADiskWriteTheGuestSyncedIsInTheImageAfterTheVmmIsKilled()
    {
        string initrd = BootAssets.BuildInitramfs(Init);
        string disk = BootAssets.CreateDisk(64);
        try
        {
            string dll = Path.Combine(AppContext.BaseDirectory, "KvmSharp.Cli.dll");
            var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false };
            foreach (string arg in new[] { dll, "run", "--backend", "soft", "--kernel", Path.Combine(BootAssets.Directory, "vmlinuz"), "--initrd", initrd,
                         "--append", BootAssets.BaseCommandLine, "--disk", disk })
                start.ArgumentList.Add(arg);
            using var process = Process.Start(start)!;
            var console = new StringBuilder();
            var synced = new TaskCompletionSource();
            process.OutputDataReceived += (_, line) =>
            {
                lock (console)
                    console.AppendLine(line.Data);
                if (line.Data?.Contains("KVMSHARP-SYNCED") == true)
                {
                    // SIGKILL: no handler of the VMM's runs, nothing gets flushed on the way out.
                    process.Kill();
                    synced.TrySetResult();
                }
            };
            process.BeginOutputReadLine();
            var stderr = process.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
            using var limit = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
            limit.CancelAfter(TimeSpan.FromMinutes(5));
            bool exited = true;
            try
            {
                await process.WaitForExitAsync(limit.Token);
            }
            catch (OperationCanceledException)
            {
                exited = false;
                process.Kill(entireProcessTree: true);
                await process.WaitForExitAsync(TestContext.Current.CancellationToken);
            }
            string errors = await stderr;
            string output;
            lock (console)
                output = console.ToString();
            Assert.True(synced.Task.IsCompleted, $"The guest never reported its sync (exit {(exited ? process.ExitCode : "none: timed out")}).\n{output}\n{errors}");
            Assert.Equal(137, process.ExitCode); // 128 + SIGKILL
            Assert.DoesNotContain("KVMSHARP-MODULES-FAILED", output);
            Assert.Equal(Pattern, Encoding.ASCII.GetString(File.ReadAllBytes(disk), 16 * 512, Pattern.Length));
        }
        finally
        {
            File.Delete(initrd);
            File.Delete(disk);
        }
    }
}
