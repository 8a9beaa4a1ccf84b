namespace KvmSharp.Abi;

/// <summary>
/// The header's own name for a type, field or constant whose C# name does not
/// follow the project's mapping (PascalCase of the C name). The layout test
/// reads it to find the C counterpart.
/// </summary>
[AttributeUsage(AttributeTargets.Struct | AttributeTargets.Field | AttributeTargets.Property)]
public sealed class CNameAttribute(string name) : Attribute
{
    public string Name { get; } = name;
}
