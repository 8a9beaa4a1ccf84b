namespace KvmSharp.Cli.Tests;

public class LinuxRunCommandTests
{
    private static readonly string Assets = Path.Combine(AppContext.BaseDirectory, "../../../../assets/cache");

    [Fact]
    public void InitrdBuildsANewcArchiveFromBusybox()
    {
        string output = Path.Combine(Path.GetTempPath(), $"kvmsharp-cli-initrd-{Guid.NewGuid():N}.img");
        try
        {
            var result = CliProcess.Run("initrd", "--busybox", Path.Combine(Assets, "busybox-bin"), "-o", output);
            Assert.Equal(0, result.ExitCode);
            Assert.Contains("wrote", result.Stdout);
            byte[] archive = File.ReadAllBytes(output);
            Assert.Equal("070701"u8.ToArray(), archive[..6]); // cpio newc magic
            Assert.Contains("TRAILER!!!", System.Text.Encoding.ASCII.GetString(archive));
        }
        finally
        {
            File.Delete(output);
        }
    }

    [Fact]
    public void VmlinuxUnpacksTheElfKernelFromDebiansBzImage()
    {
        string output = Path.Combine(Path.GetTempPath(), $"kvmsharp-cli-vmlinux-{Guid.NewGuid():N}");
        try
        {
            var result = CliProcess.Run("vmlinux", "--bzimage", Path.Combine(Assets, "vmlinuz"), "-o", output);
            Assert.Equal(0, result.ExitCode);
            byte[] elf = File.ReadAllBytes(output);
            Assert.Equal(new byte[] { 0x7F, (byte)'E', (byte)'L', (byte)'F' }, elf[..4]);
            Assert.Equal(2, elf[4]); // ELF64
            // A kernel's ELF carries "Linux" notes and, for PVH, a "Xen" one.
            Assert.True(elf.AsSpan().IndexOf("Xen\0"u8) > 0, "The unpacked kernel has no \"Xen\" note name.");
        }
        finally
        {
            File.Delete(output);
        }
    }

    [Theory]
    [InlineData("vmlinux --bzimage /nonexistent/vmlinuz -o /tmp/x", "--bzimage: /nonexistent/vmlinuz does not exist")]
    [InlineData("vmlinux --bzimage {asset}busybox-bin -o /tmp/x", "--bzimage: ")]
    [InlineData("run --kernel /nonexistent/vmlinuz", "/nonexistent/vmlinuz does not exist")]
    [InlineData("run --kernel {asset}busybox-bin", "not a Linux kernel")]
    [InlineData("run --kernel {asset}vmlinuz --mem 16M", "between 32 MiB and 3 GiB")]
    [InlineData("run --kernel {asset}vmlinuz --cpus 0", "--cpus: 0")]
    [InlineData("run --kernel {asset}vmlinuz --initrd /nonexistent/initrd", "/nonexistent/initrd does not exist")]
    [InlineData("run --kernel {asset}vmlinuz --disk /nonexistent/disk.img,ro", "--disk: /nonexistent/disk.img does not exist")]
    [InlineData("run --kernel {asset}vmlinuz --disk ,ro", "--disk: \",ro\" names no image file")]
    [InlineData("run --kernel {asset}vmlinuz --serial tcp:1234", "--serial: \"tcp:1234\" is not stdio, file:PATH or unix:PATH")]
    [InlineData("run --kernel {asset}vmlinuz --serial file:/nonexistent/dir/console.log", "--serial: cannot write /nonexistent/dir/console.log")]
    [InlineData("initrd --busybox /nonexistent/busybox -o /tmp/x.img", "/nonexistent/busybox does not exist")]
    [InlineData("initrd --busybox {asset}busybox-bin --module virtio_blk -o /tmp/x.img", "--module needs --modules")]
    public void BadLinuxRunInputGetsOneLineAndExitCode2(string commandLine, string expected)
    {
        string[] args = commandLine.Replace("{asset}", Assets + "/").Split(' ');
        var result = CliProcess.Run(args);
        Assert.Equal(2, result.ExitCode);
        string line = Assert.Single(result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("kvmsharp: ", line);
        Assert.Contains(expected, line);
    }
}
