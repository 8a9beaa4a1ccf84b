namespace KvmSharp.Vmm.Tests.Boot;

/// <summary>The Debian kernel and busybox that tests/assets/fetch.sh unpacks into tests/assets/cache.</summary>
internal static class TestAssets
{
    public static string Cache { get; } = FindCache();

    public static string Vmlinuz => Existing(Path.Combine(Cache, "vmlinuz"));

    public static string Busybox => Existing(Path.Combine(Cache, "busybox-bin"));

    /// <summary>/lib/modules/&lt;version&gt; of the kernel package.</summary>
    public static string Modules => Existing(Path.Combine(Cache, "modules"));

    private static string Existing(string path) =>
        File.Exists(path) || Directory.Exists(path)
            ? path
            : throw new FileNotFoundException($"{path} is missing: run `bash tests/assets/fetch.sh` (.ci/run does).");

    private static string FindCache()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            string candidate = Path.Combine(directory.FullName, "tests", "assets", "cache");
            if (Directory.Exists(Path.Combine(directory.FullName, "tests", "assets")))
                return candidate;
        }
        throw new DirectoryNotFoundException($"No tests/assets above {AppContext.BaseDirectory}.");
    }
}
