namespace KvmSharp.Vmm.Initramfs;

/// <summary>
/// Builds an initramfs (an uncompressed cpio "newc" archive): a directory tree
/// with a static busybox, its applet links, the device nodes the kernel opens
/// before devtmpfs is mounted, an /init script, and optionally kernel modules
/// with a script that loads them in dependency order.
/// </summary>
public sealed class InitramfsBuilder
{
    /// <summary>Loads the modules listed in <see cref="ModuleOrderPath"/>, in that order.</summary>
    public const string LoadModulesPath = "sbin/load-modules";
    public const string ModuleOrderPath = "lib/modules/load-order";

    /// <summary>Busybox applets linked in /bin, enough for an init script to mount, test and power off.</summary>
    public static readonly IReadOnlyList<string> DefaultApplets =
    [
        "sh", "mount", "umount", "mkdir", "mknod", "ls", "cat", "echo", "printf", "test", "grep", "cut", "wc",
        "dd", "sync", "sleep", "uname", "dmesg", "insmod", "modprobe", "lsmod", "poweroff", "reboot", "halt",
        "nproc", "head", "tail", "cmp", "rm", "cp", "mv", "ln", "chmod", "touch", "mdev", "setsid", "cttyhack",
    ];

    private readonly SortedDictionary<string, Entry> _entries = new(StringComparer.Ordinal);

    private abstract record Entry;
    private sealed record DirectoryEntry(uint Permissions) : Entry;
    private sealed record FileEntry(byte[] Contents, uint Permissions) : Entry;
    private sealed record SymlinkEntry(string Target) : Entry;
    private sealed record DeviceEntry(uint Major, uint Minor, uint Permissions) : Entry;

    /// <summary>
    /// A tree with /bin/busybox and <see cref="DefaultApplets"/> linked to it, the
    /// usual mount points, /dev/console, /dev/null and /dev/ttyS0, and
    /// <paramref name="initScript"/> as /init.
    /// </summary>
    public static InitramfsBuilder WithBusybox(byte[] staticBusybox, string initScript)
    {
        var builder = new InitramfsBuilder();
        foreach (string directory in new[] { "bin", "sbin", "etc", "proc", "sys", "dev", "tmp", "root", "mnt", "usr/bin", "usr/sbin" })
            builder.AddDirectory(directory);
        builder.AddFile("bin/busybox", staticBusybox, 0x1ED);
        foreach (string applet in DefaultApplets)
            builder.AddSymlink($"bin/{applet}", "busybox");
        // The kernel opens /dev/console for init's stdio before anything could mount devtmpfs.
        builder.AddCharacterDevice("dev/console", 5, 1, 0x180);
        builder.AddCharacterDevice("dev/null", 1, 3, 0x1B6);
        builder.AddCharacterDevice("dev/ttyS0", 4, 64, 0x1B0);
        builder.AddFile("init", System.Text.Encoding.UTF8.GetBytes(initScript), 0x1ED);
        return builder;
    }

    public InitramfsBuilder AddDirectory(string path, uint permissions = 0x1ED)
    {
        Put(path, new DirectoryEntry(permissions));
        return this;
    }

    public InitramfsBuilder AddFile(string path, byte[] contents, uint permissions = 0x1A4)
    {
        Put(path, new FileEntry(contents, permissions));
        return this;
    }

    public InitramfsBuilder AddSymlink(string path, string target)
    {
        Put(path, new SymlinkEntry(target));
        return this;
    }

    public InitramfsBuilder AddCharacterDevice(string path, uint major, uint minor, uint permissions = 0x180)
    {
        Put(path, new DeviceEntry(major, minor, permissions));
        return this;
    }

    /// <summary>
    /// Copies <paramref name="names"/> and their dependencies from an unpacked
    /// /lib/modules/&lt;version&gt; directory, and adds /sbin/load-modules, which an
    /// init script runs to insmod them in order.
    /// </summary>
    public IReadOnlyList<KernelModule> AddModules(string modulesDirectory, IEnumerable<string> names)
    {
        var modules = new KernelModules(modulesDirectory);
        var resolved = modules.Resolve(names);
        string root = $"lib/modules/{modules.Version}";
        foreach (var module in resolved)
            AddFile($"{root}/{module.RelativePath}", File.ReadAllBytes(module.File));
        AddFile(ModuleOrderPath, System.Text.Encoding.UTF8.GetBytes(string.Concat(resolved.Select(m => $"/{root}/{m.RelativePath}\n"))));
        AddFile(LoadModulesPath, System.Text.Encoding.UTF8.GetBytes($"#!/bin/sh\nwhile read -r module; do insmod \"$module\" || exit 1; done < /{ModuleOrderPath}\n"), 0x1ED);
        return resolved;
    }

    /// <summary>The archive: parents before children, then the trailer.</summary>
    public byte[] Build()
    {
        using var output = new MemoryStream();
        var writer = new CpioNewcWriter(output);
        foreach (var (path, entry) in _entries)
        {
            switch (entry)
            {
                case DirectoryEntry d: writer.AddDirectory(path, d.Permissions); break;
                case FileEntry f: writer.AddFile(path, f.Contents, f.Permissions); break;
                case SymlinkEntry s: writer.AddSymlink(path, s.Target); break;
                case DeviceEntry c: writer.AddCharacterDevice(path, c.Major, c.Minor, c.Permissions); break;
            }
        }
        writer.Finish();
        return output.ToArray();
    }

    /// <summary>The archive gzip-compressed, which kernels built with CONFIG_RD_GZIP (Debian's are) unpack as well.</summary>
    public byte[] BuildGzip()
    {
        using var output = new MemoryStream();
        using (var gzip = new System.IO.Compression.GZipStream(output, System.IO.Compression.CompressionLevel.SmallestSize, leaveOpen: true))
            gzip.Write(Build());
        return output.ToArray();
    }

    /// <summary>The archive written to <paramref name="path"/>, gzip-compressed if <paramref name="gzip"/>.</summary>
    public void WriteTo(string path, bool gzip = false) => File.WriteAllBytes(path, gzip ? BuildGzip() : Build());

    private void Put(string path, Entry entry)
    {
        string name = CpioNewcWriter.NormalizePath(path);
        // Parents first: the kernel's unpacker does not create missing directories.
        string[] parts = name.Split('/');
        for (int i = 1; i < parts.Length; i++)
        {
            string parent = string.Join('/', parts[..i]);
            if (!_entries.TryGetValue(parent, out var existing))
                _entries[parent] = new DirectoryEntry(0x1ED);
            else if (existing is not DirectoryEntry)
                throw new ArgumentException($"\"{parent}\" is already a file; \"{name}\" cannot go inside it.", nameof(path));
        }
        if (_entries.TryGetValue(name, out var previous) && !(previous is DirectoryEntry && entry is DirectoryEntry))
            throw new ArgumentException($"The initramfs already holds \"{name}\".", nameof(path));
        _entries[name] = entry;
    }
}
