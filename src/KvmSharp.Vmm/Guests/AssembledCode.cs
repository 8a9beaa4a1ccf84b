using Iced.Intel;

namespace KvmSharp.Vmm.Guests;

/// <summary>Machine code encoded for a fixed guest address, with the addresses its labels ended up at.</summary>
public sealed class AssembledCode
{
    private readonly AssemblerResult _result;

    private AssembledCode(ulong address, byte[] bytes, AssemblerResult result)
    {
        Address = address;
        Bytes = bytes;
        _result = result;
    }

    public ulong Address { get; }

    public byte[] Bytes { get; }

    public ulong End => Address + (ulong)Bytes.Length;

    /// <summary>Encodes what <paramref name="assembler"/> holds so that it runs at <paramref name="address"/>.</summary>
    public static AssembledCode Assemble(Assembler assembler, ulong address)
    {
        var stream = new MemoryStream();
        var result = assembler.Assemble(new StreamCodeWriter(stream), address, BlockEncoderOptions.ReturnNewInstructionOffsets);
        return new AssembledCode(address, stream.ToArray(), result);
    }

    /// <summary>The guest address of an instruction that <paramref name="label"/> was placed on.</summary>
    public ulong AddressOf(Label label) => _result.GetLabelRIP(label);
}
