using System.Buffers.Binary;
using System.Diagnostics;
using KvmSharp.Vmm.Acpi;
using KvmSharp.Vmm.Boot;

namespace KvmSharp.Vmm.Tests.Acpi;

public class AcpiTablesTests
{
    private static byte[] RamWith(FirmwareTables tables)
    {
        var ram = new byte[0x100000];
        foreach (var write in tables.Writes)
            write.Bytes.Span.CopyTo(ram.AsSpan((int)write.Address));
        return ram;
    }

    [Fact]
    public void RsdpIsFoundByScanningAndEveryTableChecksums()
    {
        var tables = AcpiTables.Build(new AcpiOptions());
        var reader = new AcpiReader(RamWith(tables));
        Assert.Equal(tables.RsdpAddress, reader.RsdpAddress);
        Assert.Equal(0xE0000UL, reader.RsdpAddress);
        Assert.Equal(["APIC", "DSDT", "FACP"], reader.Tables.Keys.Order());
        Assert.All(tables.Writes, w => Assert.True(w.Address >= 0xE0000 && w.End <= 0x100000));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(8)]
    [InlineData(255)]
    public void MadtHasOneEnabledLocalApicPerCpuTheIoApicAndIrq0ToGsi2(int cpus)
    {
        var reader = new AcpiReader(RamWith(AcpiTables.Build(new AcpiOptions { Cpus = cpus })));
        var madt = reader.Table("APIC");
        Assert.Equal(0xFEE0_0000u, BinaryPrimitives.ReadUInt32LittleEndian(madt[36..]));
        var apicIds = new List<int>();
        var ioApics = new List<(int Id, uint Address, uint GsiBase)>();
        var overrides = new List<(int Irq, uint Gsi, int Flags)>();
        int nmis = 0;
        for (int offset = 44; offset < madt.Length;)
        {
            var entry = madt[offset..];
            int type = entry[0], length = entry[1];
            Assert.True(length >= 2 && offset + length <= madt.Length, $"entry at {offset}");
            switch (type)
            {
                case 0:
                    Assert.Equal(8, length);
                    Assert.Equal(1u, BinaryPrimitives.ReadUInt32LittleEndian(entry[4..]) & 1);
                    apicIds.Add(entry[3]);
                    break;
                case 1:
                    Assert.Equal(12, length);
                    ioApics.Add((entry[2], BinaryPrimitives.ReadUInt32LittleEndian(entry[4..]), BinaryPrimitives.ReadUInt32LittleEndian(entry[8..])));
                    break;
                case 2:
                    Assert.Equal(10, length);
                    overrides.Add((entry[3], BinaryPrimitives.ReadUInt32LittleEndian(entry[4..]), BinaryPrimitives.ReadUInt16LittleEndian(entry[8..])));
                    break;
                case 4:
                    Assert.Equal(6, length);
                    nmis++;
                    break;
                default:
                    Assert.Fail($"unexpected MADT entry type {type}");
                    break;
            }
            offset += length;
        }
        Assert.Equal(Enumerable.Range(0, cpus), apicIds);
        Assert.Equal([(0, 0xFEC0_0000u, 0u)], ioApics);
        Assert.Equal([(0, 2u, 0)], overrides);
        Assert.Equal(1, nmis);
    }

    [Fact]
    public void FadtIsHardwareReducedWithResetAndSleepRegisters()
    {
        var options = new AcpiOptions();
        var fadt = new AcpiReader(RamWith(AcpiTables.Build(options))).Table("FACP");
        Assert.Equal(276, fadt.Length);
        Assert.Equal(6, fadt[8]);
        uint flags = BinaryPrimitives.ReadUInt32LittleEndian(fadt[112..]);
        Assert.NotEqual(0u, flags & (1 << 20));
        Assert.NotEqual(0u, flags & (1 << 10));
        Assert.Equal((1, 8, 0x64UL), (fadt[116], fadt[117], BinaryPrimitives.ReadUInt64LittleEndian(fadt[120..])));
        Assert.Equal(0xFE, fadt[128]);
        Assert.Equal((1, 0x3C0UL), (fadt[244], BinaryPrimitives.ReadUInt64LittleEndian(fadt[248..])));
        Assert.Equal(0u, BinaryPrimitives.ReadUInt32LittleEndian(fadt[76..])); // no PM timer
        Assert.NotEqual(0, BinaryPrimitives.ReadUInt16LittleEndian(fadt[109..]) & 2); // 8042 present
    }

    [Fact]
    public void DsdtDescribesTheIsaDevicesAndS5()
    {
        var dsdt = new AcpiReader(RamWith(AcpiTables.Build(new AcpiOptions()))).Table("DSDT").ToArray();
        Assert.True(Contains(dsdt, [0x5B, 0x82]), "a Device op");
        Assert.True(Contains(dsdt, "COM1"u8.ToArray()));
        Assert.True(Contains(dsdt, [0x0C, 0x41, 0xD0, 0x05, 0x01]), "EisaId(PNP0501) as a DWord");
        Assert.True(Contains(dsdt, [0x47, 0x01, 0xF8, 0x03, 0xF8, 0x03]), "the I/O range 0x3F8");
        Assert.True(Contains(dsdt, [0x0C, 0x41, 0xD0, 0x0B, 0x00]), "EisaId(PNP0B00), the RTC");
        Assert.True(Contains(dsdt, [0x47, 0x01, 0x70, 0x00, 0x70, 0x00, 0x01, 0x02, 0x22, 0x00, 0x01]), "the RTC's ports 0x70-0x71 and IRQ 8");
        Assert.True(Contains(dsdt, [0x0C, 0x41, 0xD0, 0x03, 0x03]), "EisaId(PNP0303), the keyboard");
        Assert.True(Contains(dsdt, [0x08, 0x5C, (byte)'_', (byte)'S', (byte)'5', (byte)'_', 0x12]), "Name(\\_S5, Package");

        var noExtras = new AcpiReader(RamWith(AcpiTables.Build(new AcpiOptions { Com1 = false, Rtc = false, Keyboard = false, SleepControlPort = null }))).Table("DSDT");
        Assert.Equal(36, noExtras.Length);
    }

    [Fact]
    public void PowerOffIsSlpEnWithS5SleepType()
    {
        var options = new AcpiOptions();
        Assert.True(AcpiTables.IsPowerOff(options, 0x3C0, [(5 << 2) | 0x20]));
        Assert.False(AcpiTables.IsPowerOff(options, 0x3C0, [5 << 2]));
        Assert.False(AcpiTables.IsPowerOff(options, 0x3C0, [0x80])); // ACPICA clears WAK_STS through the same port first
        Assert.False(AcpiTables.IsPowerOff(options, 0x3C1, [(5 << 2) | 0x20]));
        Assert.False(AcpiTables.IsPowerOff(options with { SleepControlPort = null }, 0x3C0, [(5 << 2) | 0x20]));
    }

    [Theory]
    [InlineData(0, new byte[] { 1 })]
    [InlineData(62, new byte[] { 63 })]
    [InlineData(63, new byte[] { 0x41, 0x04 })]
    [InlineData(0xFFD, new byte[] { 0x4F, 0xFF })]
    [InlineData(0xFFE, new byte[] { 0x81, 0x00, 0x01 })]
    public void PackageLengthCountsItself(int content, byte[] expected) => Assert.Equal(expected, Aml.PackageLength(content));

    [Fact]
    public void EisaIdMatchesTheKnownEncoding()
    {
        Assert.Equal(0x0105D041u, Aml.EisaId("PNP0501"));
        Assert.Equal(0x030AD041u, Aml.EisaId("PNP0A03"));
    }

    [Fact]
    public void BootPlanPassesTheRsdpAndKeepsTablesInReservedMemory()
    {
        var tables = AcpiTables.Build(new AcpiOptions { Cpus = 2 });
        var plan = BzImageLoader.Load(new Boot.SyntheticBzImage().Build(), new LinuxBootOptions { MemorySize = 64 << 20, Firmware = tables });
        var ram = new byte[64 << 20];
        plan.WriteTo(ram);
        Assert.Equal(0xE0000UL, new Boot.BootParamsReader(ram, plan.Regs.Rsi).AcpiRsdpAddr);
        new AcpiReader(ram);
        Assert.All(tables.Writes, w => Assert.Contains(plan.MemoryMap, e => e.Type == E820Type.Reserved && e.Address <= w.Address && w.End <= e.End));
    }

    [Fact]
    public void IaslDisassemblesEveryTable()
    {
        string? iasl = FindOnPath("iasl");
        if (iasl is null)
            Assert.Skip("iasl (Debian acpica-tools) is not installed.");
        var tables = AcpiTables.Build(new AcpiOptions
        {
            Cpus = 4,
            VirtioMmio = [new AcpiMmioDevice(0xD000_0000, 0x1000, 16), new AcpiMmioDevice(0xD000_1000, 0x1000, 17)],
        });
        string directory = Directory.CreateTempSubdirectory("acpi-").FullName;
        try
        {
            foreach (var write in tables.Writes.Where(w => w.What != "ACPI RSDP"))
            {
                string signature = write.What["ACPI ".Length..];
                string file = Path.Combine(directory, signature.ToLowerInvariant() + ".dat");
                File.WriteAllBytes(file, write.Bytes.ToArray());
                var (exit, output) = Run(iasl, directory, "-d", file);
                string dsl = Path.ChangeExtension(file, ".dsl");
                Assert.True(exit == 0 && File.Exists(dsl), $"iasl -d {signature} exited {exit}:\n{output}");
                string text = File.ReadAllText(dsl);
                Assert.DoesNotContain("Invalid", text, StringComparison.OrdinalIgnoreCase);
                Assert.DoesNotContain("Incorrect checksum", text, StringComparison.OrdinalIgnoreCase);
                switch (signature)
                {
                    case "DSDT":
                        Assert.Contains("Device (COM1)", text);
                        Assert.Contains("EisaId (\"PNP0501\")", text);
                        Assert.Contains("EisaId (\"PNP0B00\")", text);
                        Assert.Contains("EisaId (\"PNP0303\")", text);
                        Assert.Contains("IRQNoFlags ()\n                    {8}", text.Replace("\r", ""));
                        Assert.Contains("Name (\\_S5, Package", text);
                        Assert.Contains("IO (Decode16", text);
                        // The virtio-mmio devices, as Linux's virtio_mmio driver matches them.
                        Assert.Contains("Device (VR01)", text);
                        Assert.Equal(2, System.Text.RegularExpressions.Regex.Matches(text, "Name \\(_HID, \"LNRO0005\"\\)").Count);
                        Assert.Contains("Memory32Fixed (ReadWrite,\n                    0xD0001000,         // Address Base\n                    0x00001000,", text.Replace("\r", ""));
                        Assert.Matches(@"Interrupt \(ResourceConsumer, Edge, ActiveHigh, Exclusive, ,, \)\s*\{\s*0x00000011,", text);
                        break;
                    case "FACP":
                        Assert.Matches(@"Hardware Reduced \(V5\) : 1", text);
                        break;
                    case "APIC":
                        Assert.Equal(4, System.Text.RegularExpressions.Regex.Matches(text, @"Subtable Type : 00 \[Processor Local APIC\]").Count);
                        Assert.Contains("[I/O APIC]", text);
                        Assert.Contains("[Interrupt Source Override]", text);
                        break;
                }
            }
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    private static bool Contains(byte[] haystack, byte[] needle) => haystack.AsSpan().IndexOf(needle) >= 0;

    private static string? FindOnPath(string tool) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Select(d => Path.Combine(d, tool)).FirstOrDefault(File.Exists);

    private static (int Exit, string Output) Run(string tool, string directory, params string[] arguments)
    {
        var start = new ProcessStartInfo(tool) { WorkingDirectory = directory, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string argument in arguments)
            start.ArgumentList.Add(argument);
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        string stderr = process.StandardError.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, stdout.Result + stderr);
    }
}
