using System.Buffers.Binary;
using System.Text;

namespace KvmSharp.Vmm.Tests.Acpi;

/// <summary>
/// Finds and checks ACPI tables in a RAM image the way an OS does, with the
/// spec's offsets written out here: scan for the RSDP, verify every checksum
/// and length, follow the XSDT.
/// </summary>
internal sealed class AcpiReader
{
    private readonly byte[] _ram;

    public AcpiReader(byte[] ram)
    {
        _ram = ram;
        for (int address = 0xE0000; address < 0x100000; address += 16)
        {
            if (Encoding.ASCII.GetString(ram, address, 8) == "RSD PTR ")
            {
                RsdpAddress = (ulong)address;
                break;
            }
        }
        Assert.True(RsdpAddress != 0, "no RSDP in 0xE0000-0xFFFFF");
        var rsdp = ram.AsSpan((int)RsdpAddress, 36);
        Assert.Equal(0, Sum(rsdp[..20]));
        Assert.Equal(2, rsdp[15]);
        Assert.Equal(36u, BinaryPrimitives.ReadUInt32LittleEndian(rsdp[20..]));
        Assert.Equal(0, Sum(rsdp));
        RsdtAddress = BinaryPrimitives.ReadUInt32LittleEndian(rsdp[16..]);
        XsdtAddress = BinaryPrimitives.ReadUInt64LittleEndian(rsdp[24..]);

        var xsdt = Table(XsdtAddress, "XSDT");
        for (int i = 36; i < xsdt.Length; i += 8)
        {
            ulong address = BinaryPrimitives.ReadUInt64LittleEndian(xsdt[i..]);
            Tables[Encoding.ASCII.GetString(_ram, (int)address, 4)] = address;
        }
        var rsdt = Table(RsdtAddress, "RSDT");
        var viaRsdt = new List<ulong>();
        for (int i = 36; i < rsdt.Length; i += 4)
            viaRsdt.Add(BinaryPrimitives.ReadUInt32LittleEndian(rsdt[i..]));
        Assert.Equal(Tables.Values.Order(), viaRsdt.Order());
        ulong dsdt = BinaryPrimitives.ReadUInt64LittleEndian(Table(Tables["FACP"], "FACP")[140..]);
        Assert.Equal(dsdt, BinaryPrimitives.ReadUInt32LittleEndian(Table(Tables["FACP"], "FACP")[40..]));
        Tables["DSDT"] = dsdt;
        foreach (var (signature, address) in Tables)
            Table(address, signature);
    }

    public ulong RsdpAddress { get; }
    public ulong RsdtAddress { get; }
    public ulong XsdtAddress { get; }

    /// <summary>Signature to address, for the tables the XSDT lists, plus the DSDT from the FADT.</summary>
    public Dictionary<string, ulong> Tables { get; } = [];

    /// <summary>The whole table of <paramref name="signature"/>, checked.</summary>
    public ReadOnlySpan<byte> Table(string signature) => Table(Tables[signature], signature);

    private ReadOnlySpan<byte> Table(ulong address, string signature)
    {
        Assert.Equal(signature, Encoding.ASCII.GetString(_ram, (int)address, 4));
        int length = (int)BinaryPrimitives.ReadUInt32LittleEndian(_ram.AsSpan((int)address + 4));
        Assert.InRange(length, 36, 0x10000);
        var table = _ram.AsSpan((int)address, length);
        Assert.True(Sum(table) == 0, $"{signature} checksum");
        Assert.Equal("KVMSHP", Encoding.ASCII.GetString(table.Slice(10, 6)));
        return table;
    }

    private static int Sum(ReadOnlySpan<byte> bytes)
    {
        int sum = 0;
        foreach (byte b in bytes)
            sum += b;
        return sum & 0xFF;
    }
}
