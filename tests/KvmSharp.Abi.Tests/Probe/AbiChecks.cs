using System.Reflection;
using System.Runtime.CompilerServices;

namespace KvmSharp.Abi.Tests.Probe;

/// <summary>
/// Everything the Abi assembly declares, turned into numbers to check against
/// C: the size of every struct, the offset and size of every field (through
/// unnamed members and into array elements), and the value of every constant,
/// enum member and ioctl request.
/// </summary>
public sealed class AbiChecks
{
    public List<ProbeCheck> Checks { get; } = [];
    public List<Exemption> Exemptions { get; } = [];
    /// <summary>Faults found without C: a struct that is not blittable, an unnamed type nothing holds.</summary>
    public List<string> ManagedProblems { get; } = [];

    private readonly HashSet<Type> _reachedThroughMembers = [];

    public static AbiChecks Of(Assembly abi)
    {
        var checks = new AbiChecks();
        var types = abi.GetTypes()
            .Where(t => !t.IsDefined(typeof(CompilerGeneratedAttribute)) && (t.IsPublic || t.IsNestedPublic))
            .OrderBy(t => t.FullName, StringComparer.Ordinal)
            .ToList();
        foreach (var type in types)
        {
            if (type.IsEnum)
                checks.AddEnumMembers(type);
            else
                checks.AddConstants(type);
            if (type.IsValueType && !type.IsEnum)
                checks.AddStruct(type);
        }
        checks.RequireUnnamedTypesReached(types);
        return checks;
    }

    private void AddEnumMembers(Type enumType)
    {
        foreach (var member in enumType.GetFields(BindingFlags.Public | BindingFlags.Static))
        {
            string subject = $"{enumType.Name}.{member.Name}";
            if (IsExempt(member, subject))
                continue;
            Checks.Add(new ProbeCheck(subject, CNaming.ConstantExpression(member), AsInt64(member.GetValue(null)!)));
        }
    }

    private void AddConstants(Type type)
    {
        var constants = type.GetFields(BindingFlags.Public | BindingFlags.Static)
            .Where(f => f.IsLiteral || f.IsInitOnly);
        foreach (var constant in constants)
        {
            string subject = $"{type.Name}.{constant.Name}";
            if (IsExempt(constant, subject))
                continue;
            Checks.Add(new ProbeCheck(subject, CNaming.ConstantExpression(constant), AsInt64(constant.GetValue(null)!)));
        }
    }

    /// <summary>The probe prints every C value as a long long; unsigned 64-bit values compare by their bits.</summary>
    private static long AsInt64(object value) => value switch
    {
        Enum e => AsInt64(Convert.ChangeType(e, Enum.GetUnderlyingType(e.GetType()))),
        ulong u => unchecked((long)u),
        _ => Convert.ToInt64(value),
    };

    private void AddStruct(Type type)
    {
        if (IsExempt(type, type.Name))
            return;
        if (!ManagedLayout.IsBlittable(type))
            ManagedProblems.Add($"{type.Name} holds managed references, so it cannot be handed to the kernel");
        if (IsArrayShape(type) || type.IsDefined(typeof(CUnnamedAttribute)))
            return;

        string cType = "struct " + CNaming.StructTag(type);
        Checks.Add(new ProbeCheck(type.Name, $"sizeof({cType})", ManagedLayout.SizeOf(type)));
        AddAlignmentAndTrailingArrays(type, cType);
        AddFields(type, cType, memberPrefix: "", subjectPrefix: type.Name, baseOffset: 0);
    }

    /// <summary>
    /// Alignment decides where a struct lands inside another one. In C a
    /// flexible array member adds its element's alignment, and its elements
    /// must start where the C# struct ends.
    /// </summary>
    private void AddAlignmentAndTrailingArrays(Type type, string cType)
    {
        int alignment = ManagedLayout.AlignmentOf(type);
        foreach (var trailing in type.GetCustomAttributes<CTrailingArrayAttribute>())
        {
            string subject = $"{type.Name}.{trailing.Member}[]";
            Checks.Add(new ProbeCheck(subject, $"offsetof({cType}, {trailing.Member})", ManagedLayout.SizeOf(type)));
            Checks.Add(new ProbeCheck(subject + "[0] (size)", $"sizeof((({cType} *)0)->{trailing.Member}[0])", ManagedLayout.SizeOf(trailing.ElementType)));
            alignment = Math.Max(alignment, ManagedLayout.AlignmentOf(trailing.ElementType));
        }
        Checks.Add(new ProbeCheck(type.Name + " (alignment)", $"_Alignof({cType})", alignment));
    }

    private void AddFields(Type type, string cType, string memberPrefix, string subjectPrefix, int baseOffset)
    {
        var fields = type.GetFields(BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance)
            .Select(f => (Field: f, Offset: ManagedLayout.OffsetOf(f)))
            .OrderBy(f => f.Offset);
        foreach (var (field, offset) in fields)
        {
            string subject = $"{subjectPrefix}.{field.Name}";
            if (IsExempt(field, subject))
                continue;
            string member = memberPrefix + CNaming.MemberPath(field);
            int absoluteOffset = baseOffset + offset;
            Checks.Add(new ProbeCheck(subject, $"offsetof({cType}, {member})", absoluteOffset));
            Checks.Add(new ProbeCheck(subject + " (size)", $"sizeof((({cType} *)0)->{member})", ManagedLayout.SizeOf(field.FieldType)));
            AddNestedMembers(field.FieldType, cType, member, subject, absoluteOffset);
        }
    }

    private void AddNestedMembers(Type fieldType, string cType, string member, string subject, int offset)
    {
        if (IsArrayShape(fieldType))
        {
            _reachedThroughMembers.Add(fieldType);
            var element = InlineArrayElement(fieldType);
            Checks.Add(new ProbeCheck(subject + "[0] (size)", $"sizeof((({cType} *)0)->{member}[0])", ManagedLayout.SizeOf(element)));
            AddNestedMembers(element, cType, member + "[0]", subject + "[0]", offset);
        }
        else if (fieldType.IsDefined(typeof(CUnnamedAttribute)))
        {
            _reachedThroughMembers.Add(fieldType);
            AddFields(fieldType, cType, member + ".", subject, offset);
        }
    }

    /// <summary>An [InlineArray] stands for a C array member; fixed buffers are seen through their field instead.</summary>
    private static bool IsArrayShape(Type type) => type.IsDefined(typeof(InlineArrayAttribute));

    private static Type InlineArrayElement(Type inlineArray) =>
        inlineArray.GetFields(BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance).Single().FieldType;

    private void RequireUnnamedTypesReached(IEnumerable<Type> types)
    {
        foreach (var type in types.Where(t => IsArrayShape(t) || t.IsDefined(typeof(CUnnamedAttribute))))
        {
            if (!_reachedThroughMembers.Contains(type))
                ManagedProblems.Add($"{type.Name} mirrors an unnamed C member or array, but no checked struct holds it");
        }
    }

    private bool IsExempt(MemberInfo member, string subject)
    {
        var exemption = member.GetCustomAttribute<NoCCounterpartAttribute>();
        if (exemption is null)
            return false;
        Exemptions.Add(new Exemption(subject, exemption.Reason));
        return true;
    }
}
