namespace KvmSharp.Abi;

/// <summary>
/// Marks a C# convenience that the header does not define, so the layout test
/// knows not to look for it in C. The reason is shown by that test, which also
/// keeps the list of such exceptions short.
/// </summary>
[AttributeUsage(AttributeTargets.Struct | AttributeTargets.Field)]
public sealed class NoCCounterpartAttribute(string reason) : Attribute
{
    public string Reason { get; } = reason;
}
