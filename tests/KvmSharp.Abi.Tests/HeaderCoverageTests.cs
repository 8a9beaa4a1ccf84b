using System.Reflection;
using KvmSharp.Abi.Tests.Probe;

namespace KvmSharp.Abi.Tests;

/// <summary>
/// Nothing the header names is forgotten: every ioctl request, every
/// KVM_CAP_*, KVM_EXIT_*, KVM_MEM_* and KVM_MP_STATE_*, indeed every value
/// and every struct in the system's KVM headers has a C# counterpart (the
/// layout probe then checks its value or layout).
/// </summary>
public class HeaderCoverageTests
{
    private static readonly string[] CoveredPrefixes = ["KVM_CAP_", "KVM_EXIT_", "KVM_MEM_", "KVM_MP_STATE_"];

    /// <summary>Header names that are not values a caller passes or reads, and why.</summary>
    private static readonly Dictionary<string, string> CompileTimeOnly = new()
    {
        ["_ASM_X86_KVM_H"] = "include guard of asm/kvm.h",
        ["KVM_COALESCED_MMIO_MAX"] = "defined in terms of the kernel's PAGE_SIZE, which no UAPI header provides; userspace computes it from its own page size",
    };

    /// <summary>
    /// Names the header reserves for itself: include guards (__LINUX_KVM_H),
    /// feature switches tested with #ifdef (__KVM_HAVE_*) and the numbered
    /// placeholders of removed ioctls (__KVM_DEPRECATED_*, checked separately).
    /// </summary>
    private static bool IsReservedName(string name) => name.StartsWith("__");

    private static readonly IReadOnlyDictionary<string, string> HeaderDefines = KvmHeaderText.Defines(KvmHeaderText.HeaderPaths);

    [Fact]
    public void Every_ioctl_request_in_the_header_has_a_CSharp_counterpart()
    {
        var requests = HeaderDefines.Where(d => KvmHeaderText.IsIoctlRequest(d.Value) && d.Key.StartsWith("KVM_")).Select(d => d.Key);
        AssertAllDeclared(requests, "ioctl request");
    }

    [Fact]
    public void Every_capability_exit_reason_memory_flag_and_mp_state_has_a_CSharp_counterpart()
    {
        var names = HeaderDefines.Keys.Where(name => CoveredPrefixes.Any(name.StartsWith));
        AssertAllDeclared(names, "constant");
    }

    [Fact]
    public void Every_struct_in_the_header_has_a_CSharp_counterpart()
    {
        var declared = typeof(KvmIoctls).Assembly.GetTypes()
            .Where(t => t.IsValueType && !t.IsEnum && !t.IsDefined(typeof(CUnnamedAttribute)))
            .Select(CNaming.StructTag)
            .ToHashSet();
        var headerTags = KvmHeaderText.StructTags(KvmHeaderText.HeaderPaths);
        Assert.True(headerTags.Count > 100, $"only {headerTags.Count} struct definitions were found in the header text");
        var missing = headerTags.Where(tag => !declared.Contains(tag)).Order(StringComparer.Ordinal).ToList();
        Assert.True(missing.Count == 0, $"{missing.Count} struct(s) of the header have no C# counterpart:\n  {string.Join("\n  ", missing)}");
    }

    [Fact]
    public void Every_value_the_header_defines_has_a_CSharp_counterpart()
    {
        var names = HeaderDefines.Keys.Where(name => !IsReservedName(name));
        AssertAllDeclared(names, "#define");
    }

    [Fact]
    public void Every_flexible_array_in_the_header_is_declared_as_a_trailing_array()
    {
        var inHeader = KvmHeaderText.FlexibleArrayMembers(KvmHeaderText.HeaderPaths).Order(StringComparer.Ordinal).ToList();
        var declared = typeof(KvmIoctls).Assembly.GetTypes()
            .SelectMany(t => t.GetCustomAttributes<CTrailingArrayAttribute>())
            .Select(a => a.Member.Split('.')[^1])
            .Order(StringComparer.Ordinal)
            .ToList();
        Assert.NotEmpty(inHeader);
        Assert.Equal(inHeader, declared);
    }

    /// <summary>
    /// The header keeps removed ioctls only as __KVM_DEPRECATED_* placeholders;
    /// each must still be reachable under its historical name, which the
    /// supplement header defines with the very same request expression.
    /// </summary>
    [Fact]
    public void Every_deprecated_placeholder_has_its_historical_ioctl()
    {
        var historical = KvmHeaderText.Defines([Path.Combine(AppContext.BaseDirectory, "Probe", CProbe.SupplementHeader)]);
        var missing = new List<string>();
        foreach (var (placeholder, request) in HeaderDefines.Where(d => d.Key.StartsWith("__KVM_DEPRECATED_")))
        {
            var name = historical.FirstOrDefault(d => d.Key.StartsWith("KVM_") && d.Value == request).Key;
            if (name is null)
                missing.Add($"{placeholder} ({request}): no historical KVM_* name in {CProbe.SupplementHeader}");
            else if (!DeclaredCNames.Contains(name))
                missing.Add($"{placeholder}: its historical name {name} is not in KvmIoctls");
        }
        Assert.True(missing.Count == 0, string.Join("\n", missing));
        Assert.Contains(HeaderDefines.Keys, k => k.StartsWith("__KVM_DEPRECATED_"));
    }

    [Fact]
    public void Compile_time_only_exclusions_name_real_header_macros()
    {
        Assert.All(CompileTimeOnly, exclusion =>
        {
            Assert.True(HeaderDefines.ContainsKey(exclusion.Key), $"{exclusion.Key} is excluded but the header has no such name");
            Assert.False(string.IsNullOrWhiteSpace(exclusion.Value), $"{exclusion.Key} is excluded without a reason");
        });
    }

    private static void AssertAllDeclared(IEnumerable<string> headerNames, string kind)
    {
        var names = headerNames.ToList();
        Assert.NotEmpty(names);
        var missing = names.Where(n => !DeclaredCNames.Contains(n) && !CompileTimeOnly.ContainsKey(n)).Order(StringComparer.Ordinal).ToList();
        Assert.True(missing.Count == 0, $"{missing.Count} {kind}(s) of the header have no C# counterpart:\n  {string.Join("\n  ", missing)}");
    }

    /// <summary>Every C name Abi declares: constants and requests by field name or [CName], enum members by [CName] or name.</summary>
    private static readonly HashSet<string> DeclaredCNames = typeof(KvmIoctls).Assembly.GetTypes()
        .SelectMany(t => t.GetFields(BindingFlags.Public | BindingFlags.Static))
        .Select(CNaming.ConstantExpression)
        .ToHashSet();
}
