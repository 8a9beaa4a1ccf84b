using KvmSharp.Kernel;

namespace KvmSharp.Cli.Tests;

public class InfoCommandTests
{
    private static void RequireHost()
    {
        if (!new HostKernel().IsAvailable())
            Assert.Skip("/dev/kvm cannot be opened on this machine.");
    }

    [Fact]
    public void InfoOnTheHostShowsVersionCapabilitiesCpuidAndMsrs()
    {
        RequireHost();
        var result = CliProcess.Run("info", "--backend", "host");
        Assert.Equal(0, result.ExitCode);
        Assert.Contains("kernel:        host (/dev/kvm)", result.Stdout);
        Assert.Contains("API version:   12", result.Stdout);
        Assert.Matches(@"MSR index list: [1-9]\d* MSRs", result.Stdout);
        Assert.Matches(@"supported CPUID: [1-9]\d* entries", result.Stdout);
        Assert.Matches(@"KVM_CAP_USER_MEMORY\s+1", result.Stdout);
        Assert.DoesNotMatch(@"KVM_CAP_\w+\s+0\b", result.Stdout); // Absent ones only with --all.
        Assert.Equal("", result.Stderr);
    }

    [Fact]
    public void InfoAllListsTheAbsentCapabilitiesToo()
    {
        RequireHost();
        var result = CliProcess.Run("info", "--backend", "host", "--all");
        Assert.Equal(0, result.ExitCode);
        Assert.Matches(@"KVM_CAP_S390_PSW\s+0", result.Stdout);
    }

    [Theory]
    [InlineData("info --backend bogus", "bogus")]
    [InlineData("info --frobnicate", "--frobnicate")]
    [InlineData("launch", "launch")]
    public void BadInputGetsOneLineNamingItAndExitCode2(string commandLine, string named)
    {
        var result = CliProcess.Run(commandLine.Split(' '));
        Assert.Equal(2, result.ExitCode);
        Assert.Equal("", result.Stdout);
        string line = Assert.Single(result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("kvmsharp: ", line);
        Assert.Contains(named, line);
        Assert.DoesNotContain("   at ", result.Stderr);
    }

    [Fact]
    public void InfoOnSoftShowsWhatSoftImplements()
    {
        var result = CliProcess.Run("info", "--backend", "soft");
        Assert.Equal(0, result.ExitCode);
        Assert.Contains("kernel:        soft", result.Stdout);
        Assert.Contains("API version:   12", result.Stdout);
        Assert.Matches(@"KVM_CAP_USER_MEMORY\s+1", result.Stdout);
        Assert.Matches(@"KVM_CAP_IRQCHIP\s+1", result.Stdout);
        Assert.DoesNotMatch(@"KVM_CAP_XSAVE\s", result.Stdout); // Soft's CPU has no XSAVE: not advertised.
    }

    [Fact]
    public void HostBackendWithoutDevKvmSaysSoInOneLine()
    {
        var result = CliProcess.Run(new Dictionary<string, string> { [HostKernel.DevicePathVariable] = "/nonexistent/kvm" }, "info", "--backend", "host");
        Assert.Equal(1, result.ExitCode);
        Assert.Equal("kvmsharp: The host kernel is not available: /nonexistent/kvm cannot be opened.\n", result.Stderr);
    }
}
