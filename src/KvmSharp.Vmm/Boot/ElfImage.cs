using System.Buffers.Binary;
using System.Text;

namespace KvmSharp.Vmm.Boot;

/// <summary>A PT_LOAD program header: file bytes to copy to a physical address, zero-filled up to its memory size.</summary>
public readonly record struct ElfSegment(ulong PhysicalAddress, ulong VirtualAddress, ulong FileOffset, ulong FileSize, ulong MemorySize);

/// <summary>An ELF note: its owner's name, type and descriptor.</summary>
public sealed record ElfNote(string Name, uint Type, ReadOnlyMemory<byte> Descriptor);

/// <summary>
/// Reads what loaders need from a little-endian x86-64 ELF64 file (a vmlinux,
/// or a kernel module): loadable segments, notes, the entry point and sections
/// by name. Every offset and size in the file is checked against its length.
/// </summary>
public sealed class ElfImage
{
    private const uint PtLoad = 1, PtNote = 4;
    private const uint ShtNote = 7;
    private const ushort MachineX86_64 = 0x3E;

    private readonly ReadOnlyMemory<byte> _file;

    private ElfImage(ReadOnlyMemory<byte> file) => _file = file;

    public ulong Entry { get; private init; }

    public ushort Type { get; private init; }

    public IReadOnlyList<ElfSegment> LoadSegments { get; private init; } = [];

    public IReadOnlyList<ElfNote> Notes { get; private init; } = [];

    /// <summary>Section names and their bytes (SHT_NOBITS sections are empty).</summary>
    public IReadOnlyDictionary<string, ReadOnlyMemory<byte>> Sections { get; private init; } = new Dictionary<string, ReadOnlyMemory<byte>>();

    public static bool LooksLikeElf(ReadOnlySpan<byte> file) => file.Length >= 4 && file[0] == 0x7F && file[1] == 'E' && file[2] == 'L' && file[3] == 'F';

    /// <exception cref="BootImageException">The file is not a well-formed x86-64 ELF64 file.</exception>
    public static ElfImage Parse(ReadOnlyMemory<byte> file)
    {
        var bytes = file.Span;
        if (!LooksLikeElf(bytes))
            throw new BootImageException("The file is not an ELF file (no \\x7fELF magic).");
        if (bytes.Length < 64)
            throw new BootImageException($"The ELF file is truncated: {bytes.Length} bytes cannot hold its 64-byte header.");
        if (bytes[4] != 2)
            throw new BootImageException($"The ELF file is class {bytes[4]}; only ELF64 (class 2) kernels are loaded.");
        if (bytes[5] != 1)
            throw new BootImageException("The ELF file is big-endian; x86-64 is little-endian.");
        ushort machine = U16(bytes, 0x12);
        if (machine != MachineX86_64)
            throw new BootImageException($"The ELF file is for machine {machine}, not x86-64 (62).");

        var reader = new ElfImage(file);
        var (segments, notes) = reader.ReadProgramHeaders(U64(bytes, 0x20), U16(bytes, 0x36), U16(bytes, 0x38));
        var (sections, sectionNotes) = reader.ReadSections(U64(bytes, 0x28), U16(bytes, 0x3A), U16(bytes, 0x3C), U16(bytes, 0x3E));
        return new ElfImage(file)
        {
            Type = U16(bytes, 0x10),
            Entry = U64(bytes, 0x18),
            LoadSegments = segments,
            // Program headers are what a loader trusts; section notes serve files without them (modules).
            Notes = notes.Count > 0 ? notes : sectionNotes,
            Sections = sections,
        };
    }

    /// <summary>The file bytes of <paramref name="segment"/>.</summary>
    public ReadOnlyMemory<byte> Bytes(ElfSegment segment) => _file.Slice((int)segment.FileOffset, (int)segment.FileSize);

    private (List<ElfSegment>, List<ElfNote>) ReadProgramHeaders(ulong offset, ushort entrySize, ushort count)
    {
        var segments = new List<ElfSegment>();
        var notes = new List<ElfNote>();
        if (count == 0)
            return (segments, notes);
        if (entrySize < 56)
            throw new BootImageException($"The ELF program header entries are {entrySize} bytes; ELF64 needs 56.");
        var table = Range(offset, (ulong)entrySize * count, "program header table").Span;
        for (int i = 0; i < count; i++)
        {
            var header = table.Slice(i * entrySize, entrySize);
            uint type = U32(header, 0);
            ulong fileOffset = U64(header, 8), fileSize = U64(header, 32), memorySize = U64(header, 40);
            if (type == PtLoad)
            {
                Range(fileOffset, fileSize, $"PT_LOAD segment {i}");
                if (memorySize < fileSize)
                    throw new BootImageException($"ELF PT_LOAD segment {i} has a memory size (0x{memorySize:x}) smaller than its file size (0x{fileSize:x}).");
                segments.Add(new ElfSegment(U64(header, 24), U64(header, 16), fileOffset, fileSize, memorySize));
            }
            else if (type == PtNote)
            {
                notes.AddRange(ReadNotes(Range(fileOffset, fileSize, $"PT_NOTE segment {i}")));
            }
        }
        return (segments, notes);
    }

    private (Dictionary<string, ReadOnlyMemory<byte>>, List<ElfNote>) ReadSections(ulong offset, ushort entrySize, ushort count, ushort namesIndex)
    {
        var sections = new Dictionary<string, ReadOnlyMemory<byte>>();
        var notes = new List<ElfNote>();
        if (count == 0 || offset == 0)
            return (sections, notes);
        if (entrySize < 64)
            throw new BootImageException($"The ELF section header entries are {entrySize} bytes; ELF64 needs 64.");
        if (namesIndex >= count)
            throw new BootImageException($"The ELF section name table index {namesIndex} is past the {count} sections.");
        var table = Range(offset, (ulong)entrySize * count, "section header table");
        ReadOnlyMemory<byte> Contents(int index)
        {
            var header = table.Span.Slice(index * entrySize, entrySize);
            const uint ShtNobits = 8;
            return U32(header, 4) == ShtNobits ? ReadOnlyMemory<byte>.Empty : Range(U64(header, 24), U64(header, 32), $"section {index}");
        }
        var names = Contents(namesIndex);
        for (int i = 1; i < count; i++)
        {
            var header = table.Span.Slice(i * entrySize, entrySize);
            string name = CString(names.Span, U32(header, 0));
            sections.TryAdd(name, Contents(i));
            if (U32(header, 4) == ShtNote)
                notes.AddRange(ReadNotes(Contents(i)));
        }
        return (sections, notes);
    }

    private static List<ElfNote> ReadNotes(ReadOnlyMemory<byte> area)
    {
        var notes = new List<ElfNote>();
        int position = 0;
        while (area.Length - position >= 12)
        {
            var span = area.Span[position..];
            ulong nameSize = U32(span, 0), descriptorSize = U32(span, 4);
            uint type = U32(span, 8);
            ulong nameEnd = 12 + Align4(nameSize);
            ulong end = nameEnd + Align4(descriptorSize);
            if (end > (ulong)span.Length)
                throw new BootImageException($"An ELF note (type {type}) runs past the end of its note area.");
            string name = Encoding.ASCII.GetString(span.Slice(12, (int)nameSize)).TrimEnd('\0');
            notes.Add(new ElfNote(name, type, area.Slice(position + (int)nameEnd, (int)descriptorSize)));
            position += (int)end;
        }
        return notes;
    }

    private ReadOnlyMemory<byte> Range(ulong offset, ulong size, string what)
    {
        if (offset > (ulong)_file.Length || size > (ulong)_file.Length - offset)
            throw new BootImageException($"The ELF file is truncated: its {what} at 0x{offset:x} (0x{size:x} bytes) runs past the file's {_file.Length} bytes.");
        return _file.Slice((int)offset, (int)size);
    }

    private static string CString(ReadOnlySpan<byte> table, uint offset)
    {
        if (offset >= table.Length)
            throw new BootImageException($"An ELF section name offset 0x{offset:x} is past the name table.");
        var rest = table[(int)offset..];
        int end = rest.IndexOf((byte)0);
        return Encoding.ASCII.GetString(end < 0 ? rest : rest[..end]);
    }

    private static ulong Align4(ulong value) => (value + 3) & ~3UL;

    private static ushort U16(ReadOnlySpan<byte> bytes, int offset) => BinaryPrimitives.ReadUInt16LittleEndian(bytes[offset..]);

    private static uint U32(ReadOnlySpan<byte> bytes, int offset) => BinaryPrimitives.ReadUInt32LittleEndian(bytes[offset..]);

    private static ulong U64(ReadOnlySpan<byte> bytes, int offset) => BinaryPrimitives.ReadUInt64LittleEndian(bytes[offset..]);
}
