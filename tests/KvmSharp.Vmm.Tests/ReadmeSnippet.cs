namespace KvmSharp.Vmm.Tests;

/// <summary>
/// Compares a C# block of the README with the lines a test runs between its
/// "// --- README begins ---" and "// --- README ends ---" markers, so the README cannot rot.
/// </summary>
public static class ReadmeSnippet
{
    /// <summary>The README's C# block containing <paramref name="blockMarker"/> against the marked lines of <paramref name="testFile"/> (relative to the repository).</summary>
    public static void AssertMatches(string blockMarker, string testFile)
    {
        string root = AppContext.BaseDirectory;
        while (!File.Exists(Path.Combine(root, "README.md")) || !File.Exists(Path.Combine(root, "KvmSharp.sln")))
            root = Path.GetDirectoryName(root) ?? throw new InvalidOperationException("The repository root was not found above the test binaries.");
        string readme = File.ReadAllText(Path.Combine(root, "README.md"));
        string block = readme.Split("```csharp\n").Skip(1).Select(b => b.Split("```")[0]).Single(b => b.Contains(blockMarker));
        // The README shows its using directives; the test file has them at its top.
        string[] readmeCode = block.Split('\n').Where(l => l.Length > 0 && !(l.StartsWith("using ") && !l.StartsWith("using var "))).ToArray();

        string test = File.ReadAllText(Path.Combine(root, testFile));
        string body = test.Split("// --- README begins ---\n")[1].Split("// --- README ends ---")[0];
        string[] testCode = body.Split('\n').Where(l => l.Trim().Length > 0).Select(l => l[12..]).ToArray();
        Assert.Equal(readmeCode, testCode);
    }
}
