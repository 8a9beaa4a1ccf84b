using System.Buffers.Binary;
using System.Text;
using KvmSharp.Vmm.Boot;

namespace KvmSharp.Vmm.Tests.Boot;

/// <summary>Reads boot_params back from guest RAM with bootparam.h's offsets written out here, independently of ZeroPage.</summary>
internal sealed class BootParamsReader(byte[] ram, ulong address)
{
    private ReadOnlySpan<byte> Page => ram.AsSpan((int)address, 4096);

    public uint Magic => U32(0x202);
    public ushort BootFlag => U16(0x1FE);
    public byte TypeOfLoader => Page[0x210];
    public byte LoadFlags => Page[0x211];
    public ushort HeapEndPtr => U16(0x224);
    public ulong CmdLinePtr => U32(0x228) | ((ulong)U32(0x0C8) << 32);
    public ulong RamdiskImage => U32(0x218) | ((ulong)U32(0x0C0) << 32);
    public ulong RamdiskSize => U32(0x21C) | ((ulong)U32(0x0C4) << 32);
    public ulong AcpiRsdpAddr => BinaryPrimitives.ReadUInt64LittleEndian(Page[0x70..]);

    public string CommandLine
    {
        get
        {
            var rest = ram.AsSpan((int)CmdLinePtr);
            return Encoding.ASCII.GetString(rest[..rest.IndexOf((byte)0)]);
        }
    }

    public List<E820Entry> E820
    {
        get
        {
            var entries = new List<E820Entry>();
            for (int i = 0; i < Page[0x1E8]; i++)
            {
                var entry = Page.Slice(0x2D0 + 20 * i, 20);
                entries.Add(new E820Entry(BinaryPrimitives.ReadUInt64LittleEndian(entry), BinaryPrimitives.ReadUInt64LittleEndian(entry[8..]), (E820Type)BinaryPrimitives.ReadUInt32LittleEndian(entry[16..])));
            }
            return entries;
        }
    }

    private uint U32(int offset) => BinaryPrimitives.ReadUInt32LittleEndian(Page[offset..]);

    private ushort U16(int offset) => BinaryPrimitives.ReadUInt16LittleEndian(Page[offset..]);
}
