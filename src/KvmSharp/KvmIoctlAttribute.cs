namespace KvmSharp;

/// <summary>Names the ioctl a typed method issues, so tests can check every documented ioctl has its method.</summary>
[AttributeUsage(AttributeTargets.Method, AllowMultiple = true)]
public sealed class KvmIoctlAttribute(string name) : Attribute
{
    public string Name { get; } = name;
}
