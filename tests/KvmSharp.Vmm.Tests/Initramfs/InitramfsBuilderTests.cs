using System.Text;
using KvmSharp.Vmm.Initramfs;
using KvmSharp.Vmm.Tests.Boot;

namespace KvmSharp.Vmm.Tests.Initramfs;

public class InitramfsBuilderTests
{
    private const string Init = "#!/bin/sh\nmount -t proc proc /proc\necho KVMSHARP-MARKER\npoweroff -f\n";

    [Fact]
    public void BusyboxTreeHasInitAppletsAndConsole()
    {
        byte[] busybox = File.ReadAllBytes(TestAssets.Busybox);
        var entries = NewcReader.Read(InitramfsBuilder.WithBusybox(busybox, Init).Build());
        var byName = entries.ToDictionary(e => e.Name);

        Assert.Equal(busybox, byName["bin/busybox"].Data);
        Assert.Equal(0x81EDu, byName["bin/busybox"].Mode);
        Assert.Equal(Init, Encoding.UTF8.GetString(byName["init"].Data));
        Assert.Equal(0x81EDu, byName["init"].Mode);
        Assert.Equal("busybox", Encoding.ASCII.GetString(byName["bin/sh"].Data));
        Assert.Equal((0x2180u, 5u, 1u), (byName["dev/console"].Mode, byName["dev/console"].RdevMajor, byName["dev/console"].RdevMinor));
        foreach (string directory in new[] { "proc", "sys", "dev", "tmp" })
            Assert.Equal(0x4000u, byName[directory].Mode & 0xF000);
        // Parents come before their children: the kernel's unpacker creates nothing implicitly.
        var seen = new HashSet<string>();
        foreach (var entry in entries)
        {
            int slash = entry.Name.LastIndexOf('/');
            if (slash > 0)
                Assert.Contains(entry.Name[..slash], seen);
            seen.Add(entry.Name);
        }
    }

    [Fact]
    public void SystemCpioListsTheBusyboxInitramfs()
    {
        if (!File.Exists("/usr/bin/cpio"))
            Assert.Skip("cpio (Debian package cpio) is not installed.");
        byte[] archive = InitramfsBuilder.WithBusybox(File.ReadAllBytes(TestAssets.Busybox), Init).Build();
        var expected = NewcReader.Read(archive).Select(e => e.Name);
        Assert.Equal(expected, CpioNewcWriterTests.RunCpio(archive, "-t").Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    [Fact]
    public void VirtioModulesComeWithTheirDependenciesInLoadOrder()
    {
        var builder = InitramfsBuilder.WithBusybox([0x7F], Init);
        var modules = builder.AddModules(TestAssets.Modules, ["virtio_mmio", "virtio_blk", "virtio_console", "virtio-rng"]);
        var names = modules.Select(m => m.Name).ToList();

        Assert.Contains("virtio", names);
        Assert.Contains("virtio_ring", names);
        Assert.True(names.IndexOf("virtio") < names.IndexOf("virtio_mmio"));
        Assert.True(names.IndexOf("virtio_ring") < names.IndexOf("virtio_mmio"));
        Assert.Equal(names.Count, names.Distinct().Count());
        foreach (var module in modules)
            Assert.All(KernelModules.Dependencies(module.File), dependency => Assert.True(!names.Contains(dependency) || names.IndexOf(dependency) < names.IndexOf(module.Name), $"{dependency} before {module.Name}"));

        var entries = NewcReader.Read(builder.Build()).ToDictionary(e => e.Name);
        string version = Path.GetFileName(Path.GetFullPath(TestAssets.Modules));
        string order = Encoding.UTF8.GetString(entries[InitramfsBuilder.ModuleOrderPath].Data);
        Assert.Equal(modules.Select(m => $"/lib/modules/{version}/{m.RelativePath}"), order.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        foreach (var module in modules)
            Assert.Equal(File.ReadAllBytes(module.File), entries[$"lib/modules/{version}/{module.RelativePath}"].Data);
        Assert.Contains("insmod", Encoding.UTF8.GetString(entries[InitramfsBuilder.LoadModulesPath].Data));
    }

    [Fact]
    public void UnknownModuleIsNamedInTheError()
    {
        var error = Assert.Throws<FileNotFoundException>(() => new InitramfsBuilder().AddModules(TestAssets.Modules, ["no_such_module"]));
        Assert.Contains("no_such_module", error.Message);
    }

    [Fact]
    public void AFileCannotBecomeADirectory()
    {
        var builder = new InitramfsBuilder().AddFile("etc", [1]);
        Assert.Throws<ArgumentException>(() => builder.AddFile("etc/passwd", [2]));
        Assert.Throws<ArgumentException>(() => builder.AddFile("etc", [3]));
    }

    [Fact]
    public void GzipArchiveInflatesToThePlainOne()
    {
        var builder = InitramfsBuilder.WithBusybox([1, 2, 3], InitScripts.InteractiveShell);
        using var inflated = new MemoryStream();
        using (var gzip = new System.IO.Compression.GZipStream(new MemoryStream(builder.BuildGzip()), System.IO.Compression.CompressionMode.Decompress))
            gzip.CopyTo(inflated);
        Assert.Equal(builder.Build(), inflated.ToArray());
        Assert.StartsWith("#!/bin/sh\n", InitScripts.InteractiveShell);
    }
}
