using System.Text;
using KvmSharp.Vmm.Initramfs;

namespace KvmSharp.Vmm.Tests.Machines;

/// <summary>
/// Debian's cloud kernel, busybox and the kernel's modules (fetched by
/// tests/assets/fetch.sh), and the initramfs and disk images the boot tests
/// build from them. Shared with the CLI tests.
/// </summary>
public static class BootAssets
{
    public static readonly string Directory = Path.Combine(AppContext.BaseDirectory, "../../../../assets/cache");

    public const string BaseCommandLine = "console=ttyS0 quiet tsc=reliable no_timer_check cryptomgr.notests pci=off i8042.noaux i8042.nokbd i8042.nopnp 8250.nr_uarts=1 random.trust_cpu=on panic=-1";

    public static readonly string[] VirtioModules = ["virtio_mmio", "virtio_blk", "virtio_console", "virtio_rng"];

    public static string BuildInitramfs(string init, bool withModules = true)
    {
        string path = Path.Combine(Path.GetTempPath(), $"kvmsharp-test-initrd-{Guid.NewGuid():N}.img");
        var builder = InitramfsBuilder.WithBusybox(File.ReadAllBytes(Path.Combine(Directory, "busybox-bin")), init);
        if (withModules)
            builder.AddModules(Path.Combine(Directory, "modules"), VirtioModules);
        builder.WriteTo(path);
        return path;
    }

    public static string CreateDisk(int sectors, (int Sector, string Text)? pattern = null)
    {
        string path = Path.Combine(Path.GetTempPath(), $"kvmsharp-test-disk-{Guid.NewGuid():N}.img");
        var image = new byte[sectors * 512];
        if (pattern is var (sector, text))
            Encoding.ASCII.GetBytes(text).CopyTo(image, sector * 512);
        File.WriteAllBytes(path, image);
        return path;
    }

}
