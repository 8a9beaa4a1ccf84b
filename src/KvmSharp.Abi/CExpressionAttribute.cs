namespace KvmSharp.Abi;

/// <summary>
/// The C expression a constant equals, for a value the header states only as
/// an expression (such as an offsetof) rather than under a name of its own.
/// </summary>
[AttributeUsage(AttributeTargets.Field)]
public sealed class CExpressionAttribute(string expression) : Attribute
{
    public string Expression { get; } = expression;
}
