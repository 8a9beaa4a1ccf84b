namespace KvmSharp.Abi;

/// <summary>
/// The header's struct ends in a flexible array member (<c>entries[]</c>), which
/// a C# struct cannot declare: its elements of <see cref="ElementType"/> start
/// right after the struct, and in C they also raise the struct's alignment.
/// The layout test checks both, so callers may put the elements at
/// <c>sizeof(header)</c>.
/// </summary>
[AttributeUsage(AttributeTargets.Struct, AllowMultiple = true)]
public sealed class CTrailingArrayAttribute(string member, Type elementType) : Attribute
{
    /// <summary>The C member designator of the array, e.g. "entries" or "data.vmx".</summary>
    public string Member { get; } = member;
    public Type ElementType { get; } = elementType;
}
