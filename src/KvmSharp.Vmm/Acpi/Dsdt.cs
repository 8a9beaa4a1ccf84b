namespace KvmSharp.Vmm.Acpi;

/// <summary>
/// A minimal DSDT: COM1 as a PNP0501 device with its port range and IRQ, and
/// the \_S5 sleep package that makes the kernel offer ACPI power-off.
/// </summary>
public static class Dsdt
{
    /// <summary>SLP_TYP of S5 (soft off) in \_S5; the value written to the sleep control register carries it.</summary>
    public const byte S5SleepType = 5;
    public const byte Revision = 2;

    public static byte[] Build(AcpiOptions options)
    {
        var terms = new List<byte[]>();
        if (options.Com1)
        {
            terms.Add(Aml.Scope("\\_SB", Aml.Device("COM1",
                Aml.Name("_HID", Aml.Integer(Aml.EisaId("PNP0501"))),
                Aml.Name("_UID", Aml.Integer(1)),
                Aml.Name("_CRS", Aml.Buffer(Com1Resources())))));
        }
        if (options.SleepControlPort is not null)
            terms.Add(Aml.Name("\\_S5", Aml.Package(Aml.Integer(S5SleepType), Aml.Integer(0))));
        return AcpiTable.Build("DSDT", Revision, terms.SelectMany(t => t).ToArray());
    }

    /// <summary>ResourceTemplate { IO(Decode16, 0x3F8, 0x3F8, 0, 8); IRQNoFlags { 4 } }.</summary>
    private static byte[] Com1Resources() =>
    [
        0x47, 0x01, 0xF8, 0x03, 0xF8, 0x03, 0x00, 0x08, // I/O port descriptor: 16-bit decode, min, max, alignment, length
        0x22, 0x10, 0x00, // IRQ descriptor: mask with bit 4
        0x79, 0x00, // end tag; a zero checksum means "not checksummed"
    ];
}
