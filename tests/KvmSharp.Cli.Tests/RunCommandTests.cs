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
        // One exit per console byte, then the power-off.
        Assert.Equal($"exits: {picture.Length + 1} (Io {picture.Length + 1})", summary[1]);
    }

    [Fact]
    public void SoftPrintsExactlyWhatHostPrintsAndTheSameExits()
    {
        if (!new HostKernel().IsAvailable())
            Assert.Skip("/dev/kvm cannot be opened on this machine.");
        var host = CliProcess.Run("run", "--backend", "host");
        var soft = CliProcess.Run("run", "--backend", "soft");
        Assert.Equal(0, soft.ExitCode);
        Assert.Equal("", soft.Stderr);
        string[] hostLines = host.Stdout.Split('\n');
        string[] softLines = soft.Stdout.Split('\n');
        Assert.Equal(hostLines.Length, softLines.Length);
        // Everything but the summary's kernel name and wall time is identical.
        Assert.Equal(hostLines[..^3], softLines[..^3]);
        Assert.Equal(hostLines[^2], softLines[^2]);
        Assert.StartsWith("kernel: soft    outcome: PoweredOff", softLines[^3]);
    }

    [Fact]
    public void AutoFallsBackToSoftWhereDevKvmCannotBeOpened()
    {
        var result = CliProcess.Run(new Dictionary<string, string> { [HostKernel.DevicePathVariable] = "/nonexistent/kvm" }, "run");
        Assert.Equal(0, result.ExitCode);
        Assert.StartsWith(MandelbrotReference.Text(), result.Stdout);
        Assert.Contains("\nkernel: soft    outcome: PoweredOff", result.Stdout);
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
