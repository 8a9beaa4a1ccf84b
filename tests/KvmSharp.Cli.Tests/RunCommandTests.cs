using KvmSharp.Kernel;
using KvmSharp.Vmm.Tests.Guests;

namespace KvmSharp.Cli.Tests;

public class RunCommandTests
{
    [Fact]
    public void RunOnTheHostPrintsTheGuestsPictureThenASummary()
    {
        if (!new HostKernel().IsAvailable())
            Assert.Skip("/dev/kvm cannot be opened on this machine.");
        var result = CliProcess.Run("run", "--backend", "host");
        Assert.Equal("", result.Stderr);
        Assert.Equal(0, result.ExitCode);
        string picture = MandelbrotReference.Text();
        Assert.StartsWith(picture, result.Stdout);
        string[] summary = result.Stdout[picture.Length..].Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, summary.Length);
        Assert.Matches(@"^kernel: host    outcome: PoweredOff \(the guest powered off\)    wall time: \d+\.\d ms$", summary[0]);
        // kvm_pvm emulates REP OUTSB one byte per exit: one exit per console byte, then the power-off.
        Assert.Equal($"exits: {picture.Length + 1} (Io {picture.Length + 1})", summary[1]);
    }

    [Theory]
    [InlineData("--mem", "4K", "at least 1024 KiB")]
    [InlineData("--mem", "lots", "'lots' is not a size")]
    [InlineData("--mem", "1000001", "multiple of 4 KiB")]
    [InlineData("--backend", "qemu", "qemu")]
    public void BadRunOptionsGetOneLineAndExitCode2(string option, string value, string expected)
    {
        var result = CliProcess.Run("run", option, value);
        Assert.Equal(2, result.ExitCode);
        string line = Assert.Single(result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("kvmsharp: ", line);
        Assert.Contains(expected, line);
        Assert.Equal("", result.Stdout);
    }
}
