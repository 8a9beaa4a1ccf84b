using System.Buffers.Binary;

namespace KvmSharp.Vmm.Tests.Boot;

/// <summary>An x86-64 ELF64 executable with PT_LOAD segments and, optionally, a PVH note (laid out independently of the loader).</summary>
internal sealed class SyntheticElf
{
    public List<(ulong PhysicalAddress, ulong VirtualAddress, byte[] Bytes, ulong MemorySize)> Segments { get; } = [];
    public ulong Entry { get; init; }
    public uint? PvhEntry { get; init; }
    public int PvhDescriptorBytes { get; init; } = 8;

    public byte[] Build()
    {
        byte[] note = PvhEntry is uint entry ? Note("Xen", 18, entry) : [];
        int headers = Segments.Count + (note.Length > 0 ? 1 : 0);
        int dataStart = 64 + 56 * headers;
        int noteOffset = dataStart;
        int position = noteOffset + note.Length;
        var offsets = new List<int>();
        foreach (var segment in Segments)
        {
            position = (position + 15) & ~15;
            offsets.Add(position);
            position += segment.Bytes.Length;
        }
        var file = new byte[position];
        var span = file.AsSpan();
        span[0] = 0x7F;
        "ELF"u8.CopyTo(span[1..]);
        span[4] = 2; span[5] = 1; span[6] = 1;
        BinaryPrimitives.WriteUInt16LittleEndian(span[0x10..], 2);
        BinaryPrimitives.WriteUInt16LittleEndian(span[0x12..], 0x3E);
        BinaryPrimitives.WriteUInt32LittleEndian(span[0x14..], 1);
        BinaryPrimitives.WriteUInt64LittleEndian(span[0x18..], Entry);
        BinaryPrimitives.WriteUInt64LittleEndian(span[0x20..], 64);
        BinaryPrimitives.WriteUInt16LittleEndian(span[0x34..], 64);
        BinaryPrimitives.WriteUInt16LittleEndian(span[0x36..], 56);
        BinaryPrimitives.WriteUInt16LittleEndian(span[0x38..], (ushort)headers);
        int header = 64;
        for (int i = 0; i < Segments.Count; i++, header += 56)
        {
            var s = Segments[i];
            BinaryPrimitives.WriteUInt32LittleEndian(span[header..], 1);
            BinaryPrimitives.WriteUInt32LittleEndian(span[(header + 4)..], 5);
            BinaryPrimitives.WriteUInt64LittleEndian(span[(header + 8)..], (ulong)offsets[i]);
            BinaryPrimitives.WriteUInt64LittleEndian(span[(header + 16)..], s.VirtualAddress);
            BinaryPrimitives.WriteUInt64LittleEndian(span[(header + 24)..], s.PhysicalAddress);
            BinaryPrimitives.WriteUInt64LittleEndian(span[(header + 32)..], (ulong)s.Bytes.Length);
            BinaryPrimitives.WriteUInt64LittleEndian(span[(header + 40)..], s.MemorySize);
            s.Bytes.CopyTo(file, offsets[i]);
        }
        if (note.Length > 0)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(span[header..], 4);
            BinaryPrimitives.WriteUInt64LittleEndian(span[(header + 8)..], (ulong)noteOffset);
            BinaryPrimitives.WriteUInt64LittleEndian(span[(header + 32)..], (ulong)note.Length);
            note.CopyTo(file, noteOffset);
        }
        return file;
    }

    private byte[] Note(string name, uint type, uint value)
    {
        int nameSize = name.Length + 1;
        var note = new byte[12 + ((nameSize + 3) & ~3) + ((PvhDescriptorBytes + 3) & ~3)];
        BinaryPrimitives.WriteUInt32LittleEndian(note, (uint)nameSize);
        BinaryPrimitives.WriteUInt32LittleEndian(note.AsSpan(4), (uint)PvhDescriptorBytes);
        BinaryPrimitives.WriteUInt32LittleEndian(note.AsSpan(8), type);
        System.Text.Encoding.ASCII.GetBytes(name).CopyTo(note, 12);
        BinaryPrimitives.WriteUInt32LittleEndian(note.AsSpan(12 + ((nameSize + 3) & ~3)), value);
        return note;
    }
}
