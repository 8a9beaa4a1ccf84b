namespace KvmSharp.Abi;

/// <summary>
/// Marks a type that mirrors a struct or union the header declares without a
/// tag, inside another struct (the exit payloads of kvm_run, the parts of
/// kvm_vcpu_events). C can only name it through the member that holds it, so
/// the layout test checks it there rather than on its own.
/// </summary>
[AttributeUsage(AttributeTargets.Struct)]
public sealed class CUnnamedAttribute : Attribute;
