using System.Diagnostics;
using System.Text;
using KvmSharp.Vmm.Initramfs;

namespace KvmSharp.Vmm.Tests.Initramfs;

public class CpioNewcWriterTests
{
    private static byte[] Sample()
    {
        using var output = new MemoryStream();
        var writer = new CpioNewcWriter(output);
        writer.AddDirectory("/bin");
        writer.AddFile("bin/hello", "hi!\n"u8, 0x1ED);
        writer.AddSymlink("bin/sh", "hello");
        writer.AddDirectory("dev");
        writer.AddCharacterDevice("dev/console", 5, 1);
        writer.AddFile("empty", []);
        writer.AddFile("odd-length-name", new byte[5]);
        writer.Finish();
        return output.ToArray();
    }

    [Fact]
    public void EntriesReadBackWithTypesModesDevicesAndData()
    {
        var entries = NewcReader.Read(Sample());
        Assert.Equal(["bin", "bin/hello", "bin/sh", "dev", "dev/console", "empty", "odd-length-name"], entries.Select(e => e.Name));
        Assert.Equal(0x41EDu, entries[0].Mode);
        Assert.Equal(0x81EDu, entries[1].Mode);
        Assert.Equal("hi!\n", Encoding.ASCII.GetString(entries[1].Data));
        Assert.Equal(0xA1FFu, entries[2].Mode);
        Assert.Equal("hello", Encoding.ASCII.GetString(entries[2].Data));
        Assert.Equal((0x2180u, 5u, 1u), (entries[4].Mode, entries[4].RdevMajor, entries[4].RdevMinor));
        Assert.Empty(entries[5].Data);
        Assert.Equal(5, entries[6].Data.Length);
    }

    [Fact]
    public void SystemCpioListsTheSameEntries()
    {
        if (!File.Exists("/usr/bin/cpio"))
            Assert.Skip("cpio (Debian package cpio) is not installed.");
        string listing = RunCpio(Sample(), "-t");
        Assert.Equal("bin\nbin/hello\nbin/sh\ndev\ndev/console\nempty\nodd-length-name\n", listing);
        string verbose = RunCpio(Sample(), "-tv");
        var lines = verbose.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.StartsWith("drwxr-xr-x", lines[0]);
        Assert.StartsWith("-rwxr-xr-x", lines[1]);
        Assert.Matches(@"^lrwxrwxrwx .* bin/sh -> hello$", lines[2]);
        Assert.Matches(@"^crw------- .* 5,\s+1 .* dev/console$", lines[4]);
    }

    [Fact]
    public void RefusesDuplicateUnsafeAndPostTrailerEntries()
    {
        var writer = new CpioNewcWriter(new MemoryStream());
        writer.AddDirectory("etc");
        Assert.Throws<ArgumentException>(() => writer.AddFile("/etc/", []));
        Assert.Throws<ArgumentException>(() => writer.AddFile("etc/../../x", []));
        Assert.Throws<ArgumentException>(() => writer.AddFile("TRAILER!!!", []));
        Assert.Throws<ArgumentException>(() => writer.AddFile("/", []));
        writer.Finish();
        Assert.Throws<InvalidOperationException>(() => writer.AddFile("late", []));
    }

    internal static string RunCpio(byte[] archive, string arguments)
    {
        var start = new ProcessStartInfo("cpio", arguments + " --quiet") { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        process.StandardInput.BaseStream.Write(archive);
        process.StandardInput.Close();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, $"cpio {arguments} exited {process.ExitCode}: {stderr.Result}");
        return stdout.Result;
    }
}
