using KvmSharp.Vmm.Tests.Machines;

namespace KvmSharp.Cli.Tests;

/// <summary>Debian's kernel asked to reboot: kvmsharp stops (it does not restart the guest) and says so with exit code 3.</summary>
[Collection(LinuxBoots.Name)]
public class LinuxRebootTests
{
    private const string Init = """
        #!/bin/sh
        echo "KVMSHARP-REBOOTING"
        reboot -f

        """;

    [Fact]
    public void AGuestRebootEndsTheRunWithExitCode3()
    {
        string initrd = BootAssets.BuildInitramfs(Init, withModules: false);
        try
        {
            var result = CliProcess.Run(null, TimeSpan.FromMinutes(6), "run", "--backend", "soft", "--kernel", Path.Combine(BootAssets.Directory, "vmlinuz"), "--initrd", initrd,
                "--append", BootAssets.BaseCommandLine.Replace(" quiet", ""));
            Assert.True(result.ExitCode == 3, $"exit {result.ExitCode}\n{result.Stdout}\n{result.Stderr}");
            Assert.Contains("KVMSHARP-REBOOTING", result.Stdout);
            Assert.Contains("reboot: Restarting system", result.Stdout);
            Assert.Contains("outcome: the guest asked for a reset", result.Stdout);
        }
        finally
        {
            File.Delete(initrd);
        }
    }
}
