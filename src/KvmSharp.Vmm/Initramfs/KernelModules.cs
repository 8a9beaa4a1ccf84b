using System.Text;
using KvmSharp.Vmm.Boot;

namespace KvmSharp.Vmm.Initramfs;

/// <summary>A kernel module file to put in an initramfs.</summary>
/// <param name="Name">The module name, with '_' for '-'.</param>
/// <param name="File">Where it is on the host.</param>
/// <param name="RelativePath">Its path under /lib/modules/&lt;version&gt;.</param>
public sealed record KernelModule(string Name, string File, string RelativePath);

/// <summary>
/// Finds modules in an unpacked /lib/modules/&lt;version&gt; directory (a Debian
/// linux-image package extracted with dpkg-deb, which has no modules.dep), and
/// orders them so that each comes after the modules it depends on, reading the
/// "depends=" entry of each module's .modinfo section.
/// </summary>
public sealed class KernelModules
{
    private readonly Dictionary<string, string> _files = new(StringComparer.Ordinal);
    private readonly HashSet<string> _builtin = new(StringComparer.Ordinal);

    public KernelModules(string modulesDirectory)
    {
        if (!Directory.Exists(modulesDirectory))
            throw new DirectoryNotFoundException($"The kernel modules directory {modulesDirectory} does not exist.");
        Root = Path.GetFullPath(modulesDirectory);
        Version = Path.GetFileName(Root.TrimEnd('/'));
        foreach (string file in Directory.EnumerateFiles(Root, "*.ko*", SearchOption.AllDirectories))
            _files.TryAdd(NameOf(file), file);
        string builtinList = Path.Combine(Root, "modules.builtin");
        if (File.Exists(builtinList))
            foreach (string line in File.ReadLines(builtinList))
                _builtin.Add(NameOf(line));
    }

    public string Root { get; }

    /// <summary>The kernel release the directory is named after (e.g. 6.1.0-56-cloud-amd64).</summary>
    public string Version { get; }

    /// <summary>
    /// <paramref name="names"/> and everything they depend on, dependencies first;
    /// modules built into the kernel are left out.
    /// </summary>
    public IReadOnlyList<KernelModule> Resolve(IEnumerable<string> names)
    {
        var ordered = new List<KernelModule>();
        var done = new HashSet<string>(StringComparer.Ordinal);
        var visiting = new HashSet<string>(StringComparer.Ordinal);
        foreach (string name in names)
            Visit(Normalize(name), ordered, done, visiting, requiredBy: null);
        return ordered;
    }

    /// <summary>The modules a module file needs loaded first, from its .modinfo "depends=".</summary>
    public static IReadOnlyList<string> Dependencies(string moduleFile)
    {
        if (!moduleFile.EndsWith(".ko", StringComparison.Ordinal))
            throw new BootImageException($"{moduleFile} is compressed; only uncompressed .ko modules can be inspected for dependencies.");
        var elf = ElfImage.Parse(File.ReadAllBytes(moduleFile));
        if (!elf.Sections.TryGetValue(".modinfo", out var modinfo))
            throw new BootImageException($"{moduleFile} has no .modinfo section; it is not a kernel module.");
        foreach (string entry in Encoding.ASCII.GetString(modinfo.Span).Split('\0'))
        {
            if (entry.StartsWith("depends=", StringComparison.Ordinal))
                return entry["depends=".Length..].Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(Normalize).ToArray();
        }
        return [];
    }

    private void Visit(string name, List<KernelModule> ordered, HashSet<string> done, HashSet<string> visiting, string? requiredBy)
    {
        if (done.Contains(name))
            return;
        if (!_files.TryGetValue(name, out string? file))
        {
            if (_builtin.Contains(name))
            {
                done.Add(name);
                return;
            }
            string who = requiredBy is null ? "" : $" (needed by {requiredBy})";
            throw new FileNotFoundException($"No module \"{name}\"{who} under {Root}, and it is not built in.");
        }
        if (!visiting.Add(name))
            throw new BootImageException($"Module \"{name}\" depends on itself through a cycle.");
        foreach (string dependency in Dependencies(file))
            Visit(dependency, ordered, done, visiting, name);
        visiting.Remove(name);
        done.Add(name);
        ordered.Add(new KernelModule(name, file, Path.GetRelativePath(Root, file).Replace('\\', '/')));
    }

    private static string NameOf(string path)
    {
        string file = Path.GetFileName(path.Trim());
        int extension = file.IndexOf(".ko", StringComparison.Ordinal);
        return Normalize(extension < 0 ? file : file[..extension]);
    }

    private static string Normalize(string name) => name.Replace('-', '_');
}
