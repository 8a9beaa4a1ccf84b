using System.Reflection;
using System.Text;

namespace KvmSharp.Abi.Tests.Probe;

/// <summary>
/// The project's naming rule run backwards: the C name a C# member stands for,
/// from its [CName] if it has one, else from its PascalCase name.
/// </summary>
public static class CNaming
{
    public static string StructTag(Type type) =>
        type.GetCustomAttribute<CNameAttribute>()?.Name ?? SnakeCase(type.Name);

    /// <summary>The member designator of a field, relative to the struct or union that holds it.</summary>
    public static string MemberPath(FieldInfo field) =>
        field.GetCustomAttribute<CNameAttribute>()?.Name ?? SnakeCase(field.Name);

    /// <summary>The C expression a constant or enum member equals.</summary>
    public static string ConstantExpression(FieldInfo field) =>
        field.GetCustomAttribute<CExpressionAttribute>()?.Expression
        ?? field.GetCustomAttribute<CNameAttribute>()?.Name
        ?? field.Name;

    /// <summary>"GuestPhysAddr" → "guest_phys_addr", "KvmX86Mce" → "kvm_x86_mce", "R8" → "r8".</summary>
    public static string SnakeCase(string pascal)
    {
        var snake = new StringBuilder(pascal.Length + 8);
        for (int i = 0; i < pascal.Length; i++)
        {
            char c = pascal[i];
            if (i > 0 && char.IsUpper(c) && StartsWord(pascal, i))
                snake.Append('_');
            snake.Append(char.ToLowerInvariant(c));
        }
        return snake.ToString();
    }

    private static bool StartsWord(string pascal, int i)
    {
        char previous = pascal[i - 1];
        if (char.IsLower(previous) || char.IsDigit(previous))
            return true;
        // The last capital of an acronym starts the next word: "IOApic" → "io_apic".
        return char.IsUpper(previous) && i + 1 < pascal.Length && char.IsLower(pascal[i + 1]);
    }
}
