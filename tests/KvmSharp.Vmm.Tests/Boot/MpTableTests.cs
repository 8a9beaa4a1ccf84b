using System.Buffers.Binary;
using System.Text;
using KvmSharp.Vmm.Acpi;
using KvmSharp.Vmm.Boot;

namespace KvmSharp.Vmm.Tests.Boot;

public class MpTableTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(4)]
    public void FloatingPointerIsFoundByScanningAndTheTableChecksums(int cpus)
    {
        var ram = new byte[0x100000];
        foreach (var write in MpTable.Build(cpus).Writes)
            write.Bytes.Span.CopyTo(ram.AsSpan((int)write.Address));

        // Where Linux looks: 16-byte steps through 0xF0000-0xFFFFF.
        int pointer = Enumerable.Range(0, 0x1000).Select(i => 0xF0000 + 16 * i).First(a => Encoding.ASCII.GetString(ram, a, 4) == "_MP_");
        Assert.Equal(0, Sum(ram.AsSpan(pointer, 16)));
        Assert.Equal(4, ram[pointer + 9]);
        int table = (int)BinaryPrimitives.ReadUInt32LittleEndian(ram.AsSpan(pointer + 4));
        Assert.Equal("PCMP", Encoding.ASCII.GetString(ram, table, 4));
        int length = BinaryPrimitives.ReadUInt16LittleEndian(ram.AsSpan(table + 4));
        Assert.Equal(0, Sum(ram.AsSpan(table, length)));
        Assert.Equal(0xFEE0_0000u, BinaryPrimitives.ReadUInt32LittleEndian(ram.AsSpan(table + 36)));

        int count = BinaryPrimitives.ReadUInt16LittleEndian(ram.AsSpan(table + 34));
        var processors = new List<(int ApicId, int Flags)>();
        var routes = new Dictionary<int, int>();
        int buses = 0, ioApics = 0, locals = 0;
        int position = table + 44;
        for (int i = 0; i < count; i++)
        {
            switch (ram[position])
            {
                case 0: processors.Add((ram[position + 1], ram[position + 3])); position += 20; break;
                case 1: Assert.Equal("ISA   ", Encoding.ASCII.GetString(ram, position + 2, 6)); buses++; position += 8; break;
                case 2: Assert.Equal(0xFEC0_0000u, BinaryPrimitives.ReadUInt32LittleEndian(ram.AsSpan(position + 4))); ioApics++; position += 8; break;
                case 3: routes[ram[position + 5]] = ram[position + 7]; position += 8; break;
                case 4: locals++; position += 8; break;
                default: Assert.Fail($"entry type {ram[position]}"); break;
            }
        }
        Assert.Equal(table + length, position);
        Assert.Equal(Enumerable.Range(0, cpus).Select(c => (c, c == 0 ? 3 : 1)), processors);
        Assert.Equal((1, 1, 2), (buses, ioApics, locals));
        Assert.Equal(2, routes[0]);
        Assert.Equal(4, routes[4]);
        Assert.False(routes.ContainsKey(2));
    }

    [Fact]
    public void AcpiAndMpTablesShareTheBiosAreaOfABootPlan()
    {
        var firmware = AcpiTables.Build(new AcpiOptions { Cpus = 2 }).Combine(MpTable.Build(2));
        var plan = BzImageLoader.Load(new SyntheticBzImage().Build(), new LinuxBootOptions { MemorySize = 64 << 20, Firmware = firmware });
        Assert.Equal(0xE0000UL, firmware.RsdpAddress);
        Assert.Contains(plan.Writes, w => w.What == "MP floating pointer");
        Assert.Contains(plan.Writes, w => w.What == "ACPI RSDP");
    }

    private static int Sum(ReadOnlySpan<byte> bytes)
    {
        int sum = 0;
        foreach (byte b in bytes)
            sum += b;
        return sum & 0xFF;
    }
}
