using System.Buffers.Binary;

namespace KvmSharp.Vmm.Acpi;

/// <summary>The XSDT (64-bit pointers) and, for older readers, the RSDT (32-bit pointers) to the other tables.</summary>
public static class RootTables
{
    public static byte[] Xsdt(IReadOnlyList<ulong> tables)
    {
        var body = new byte[8 * tables.Count];
        for (int i = 0; i < tables.Count; i++)
            BinaryPrimitives.WriteUInt64LittleEndian(body.AsSpan(8 * i), tables[i]);
        return AcpiTable.Build("XSDT", 1, body);
    }

    public static byte[] Rsdt(IReadOnlyList<ulong> tables)
    {
        var body = new byte[4 * tables.Count];
        for (int i = 0; i < tables.Count; i++)
            BinaryPrimitives.WriteUInt32LittleEndian(body.AsSpan(4 * i), checked((uint)tables[i]));
        return AcpiTable.Build("RSDT", 1, body);
    }
}
