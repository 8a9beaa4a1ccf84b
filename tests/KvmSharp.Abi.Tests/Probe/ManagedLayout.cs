using System.Reflection;
using System.Reflection.Emit;
using System.Runtime.CompilerServices;

namespace KvmSharp.Abi.Tests.Probe;

/// <summary>
/// The layout the runtime actually gives a struct: sizes and field offsets
/// measured on an instance, not read back from attributes, so a sequential
/// struct is checked as it really lies in memory.
/// </summary>
public static class ManagedLayout
{
    private static readonly MethodInfo SizeOfGeneric = typeof(Unsafe).GetMethod(nameof(Unsafe.SizeOf))!;
    private static readonly MethodInfo ContainsReferencesGeneric =
        typeof(RuntimeHelpers).GetMethod(nameof(RuntimeHelpers.IsReferenceOrContainsReferences))!;

    public static int SizeOf(Type type) => (int)SizeOfGeneric.MakeGenericMethod(type).Invoke(null, null)!;

    public static bool IsBlittable(Type type) =>
        !(bool)ContainsReferencesGeneric.MakeGenericMethod(type).Invoke(null, null)!;

    /// <summary>The alignment the runtime gives <paramref name="type"/> when it is a field: where it lands after a single byte.</summary>
    public static int AlignmentOf(Type type) =>
        OffsetOf(typeof(AfterOneByte<>).MakeGenericType(type).GetField(nameof(AfterOneByte<byte>.Value))!);

    [System.Runtime.InteropServices.StructLayout(System.Runtime.InteropServices.LayoutKind.Sequential)]
    private struct AfterOneByte<T> where T : struct
    {
        public byte Lead;
        public T Value;
    }

    /// <summary>Bytes from the start of the declaring struct to <paramref name="field"/>.</summary>
    public static int OffsetOf(FieldInfo field)
    {
        var owner = field.DeclaringType!;
        var measure = new DynamicMethod(
            "OffsetOf_" + field.Name, typeof(long), [owner.MakeByRefType()], typeof(ManagedLayout).Module, skipVisibility: true);
        var il = measure.GetILGenerator();
        il.Emit(OpCodes.Ldarg_0);
        il.Emit(OpCodes.Ldflda, field);
        il.Emit(OpCodes.Ldarg_0);
        il.Emit(OpCodes.Sub);
        il.Emit(OpCodes.Conv_I8);
        il.Emit(OpCodes.Ret);
        var instance = Activator.CreateInstance(owner);
        return checked((int)(long)measure.Invoke(null, [instance])!);
    }
}
