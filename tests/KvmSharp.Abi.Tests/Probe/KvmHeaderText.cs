using System.Text.RegularExpressions;

namespace KvmSharp.Abi.Tests.Probe;

/// <summary>
/// The #define lines of the system's KVM headers, read as text so the
/// coverage test can list what the header names without trusting Abi to say.
/// </summary>
public static partial class KvmHeaderText
{
    public static readonly string[] HeaderPaths =
    [
        "/usr/include/linux/kvm.h",
        "/usr/include/x86_64-linux-gnu/asm/kvm.h",
    ];

    /// <summary>Object-like macros, name → replacement text (continuation lines joined, comments dropped).</summary>
    public static IReadOnlyDictionary<string, string> Defines(IEnumerable<string> paths)
    {
        var defines = new Dictionary<string, string>();
        foreach (var path in paths)
        {
            if (!File.Exists(path))
                Assert.Fail($"{path} is missing: install the Linux UAPI headers (Debian: linux-libc-dev).");
            string text = LineContinuation().Replace(File.ReadAllText(path), " ");
            text = BlockComment().Replace(text, " ");
            foreach (Match define in ObjectLikeDefine().Matches(text))
                defines[define.Groups["name"].Value] = Normalize(define.Groups["body"].Value);
        }
        return defines;
    }

    /// <summary>Tags of the structs the headers define (a body follows the tag), including ones defined inside another struct.</summary>
    public static IReadOnlySet<string> StructTags(IEnumerable<string> paths) =>
        paths.SelectMany(path => StructDefinition().Matches(BlockComment().Replace(File.ReadAllText(path), " ")))
            .Select(m => m.Groups["tag"].Value)
            .ToHashSet();

    /// <summary>Names of the flexible array members (<c>__DECLARE_FLEX_ARRAY(type, name)</c> or <c>name[0]</c>) the headers declare.</summary>
    public static IReadOnlyList<string> FlexibleArrayMembers(IEnumerable<string> paths) =>
        paths.SelectMany(path => FlexibleArray().Matches(BlockComment().Replace(File.ReadAllText(path), " ")))
            .Select(m => m.Groups["flex"].Success ? m.Groups["flex"].Value : m.Groups["zero"].Value)
            .ToList();

    public static string Normalize(string body) => Whitespace().Replace(body, " ").Trim().Replace("( ", "(").Replace(" ,", ",");

    public static bool IsIoctlRequest(string body) => IoctlMacro().IsMatch(body);

    [GeneratedRegex(@"\\\r?\n")]
    private static partial Regex LineContinuation();

    [GeneratedRegex(@"/\*.*?\*/", RegexOptions.Singleline)]
    private static partial Regex BlockComment();

    // A name followed directly by "(" is a function-like macro, which is not a value.
    [GeneratedRegex(@"^[ \t]*#[ \t]*define[ \t]+(?<name>[A-Za-z_][A-Za-z0-9_]*)(?![A-Za-z0-9_(])[ \t]*(?<body>[^\n]*)$", RegexOptions.Multiline)]
    private static partial Regex ObjectLikeDefine();

    [GeneratedRegex(@"\bstruct\s+(?<tag>kvm_[A-Za-z0-9_]+)\s*\{")]
    private static partial Regex StructDefinition();

    [GeneratedRegex(@"__DECLARE_FLEX_ARRAY\(\s*[^,]+,\s*(?<flex>\w+)\s*\)|\b(?<zero>\w+)\[0\]\s*;")]
    private static partial Regex FlexibleArray();

    [GeneratedRegex(@"\s+")]
    private static partial Regex Whitespace();

    [GeneratedRegex(@"^_IO(R|W|WR)?\(\s*KVMIO\b")]
    private static partial Regex IoctlMacro();
}
