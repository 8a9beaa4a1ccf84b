namespace KvmSharp.Abi;

/// <summary>
/// The header's own name for a type, field or constant whose C# name does not
/// follow the project's mapping (PascalCase of the C name). The layout test
/// reads it to find the C counterpart:
/// on a struct, the struct tag (<c>kvm_mp_state</c>);
/// on a field, the member designator from the enclosing C struct, which may
/// pass through unions (<c>chip.pic</c>, <c>s.regs</c>);
/// on a constant or enum member, the macro or enumerator (<c>KVM_EXIT_IO_IN</c>).
/// </summary>
[AttributeUsage(AttributeTargets.Struct | AttributeTargets.Field | AttributeTargets.Property)]
public sealed class CNameAttribute(string name) : Attribute
{
    public string Name { get; } = name;
}
