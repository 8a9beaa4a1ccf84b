using System.Numerics;
using System.Runtime.Intrinsics;
using Iced.Intel;

namespace KvmSharp.Soft.Cpu;

/// <summary>
/// SSE4.2: the packed string compares (the engine is in StringCompare.cs), PCMPGTQ, and CRC32 (CRC-32C, which works on
/// general registers and is reached from the integer core).
/// </summary>
public sealed unsafe partial class X86Cpu
{
    /// <summary>The SSE4.2 instructions on XMM registers; false for any other instruction. SSE availability is checked.</summary>
    private bool TryExecuteSse42(ref Instruction instruction)
    {
        switch (instruction.Mnemonic)
        {
            case Mnemonic.Pcmpgtq:
            {
                int destination = XmmIndex(instruction.Op0Register);
                Vector128<ulong> source = ReadXmmOperand(ref instruction, 1, aligned: true);
                WriteXmm(destination, Vector128.GreaterThan(ReadXmm(destination).AsInt64(), source.AsInt64()).AsUInt64());
                return true;
            }
            case Mnemonic.Pcmpestri: case Mnemonic.Pcmpestri64: case Mnemonic.Pcmpestrm: case Mnemonic.Pcmpestrm64:
            case Mnemonic.Pcmpistri: case Mnemonic.Pcmpistrm:
                ExecuteStringCompare(ref instruction);
                return true;
            default:
                return false;
        }
    }

    private void ExecuteStringCompare(ref Instruction instruction)
    {
        byte control = instruction.Immediate8;
        Vector128<ulong> source1 = ReadXmm(XmmIndex(instruction.Op0Register));
        // The string instructions are the legacy SSE forms that accept any alignment of their memory operand.
        Vector128<ulong> source2 = ReadXmmOperand(ref instruction, 1, aligned: false);
        Mnemonic mnemonic = instruction.Mnemonic;
        int length1, length2;
        if (mnemonic is Mnemonic.Pcmpistri or Mnemonic.Pcmpistrm)
        {
            length1 = StringCompare.ImplicitLength(source1, control);
            length2 = StringCompare.ImplicitLength(source2, control);
        }
        else
        {
            // REX.W makes the lengths RAX and RDX; otherwise EAX and EDX, as signed 32-bit values.
            bool wide = mnemonic is Mnemonic.Pcmpestri64 or Mnemonic.Pcmpestrm64;
            length1 = StringCompare.ExplicitLength(wide ? (long)Gpr[0] : (int)Gpr[0], control);
            length2 = StringCompare.ExplicitLength(wide ? (long)Gpr[2] : (int)Gpr[2], control);
        }
        uint intRes2 = StringCompare.Compare(source1, length1, source2, length2, control);
        if (mnemonic is Mnemonic.Pcmpestri or Mnemonic.Pcmpestri64 or Mnemonic.Pcmpistri)
            WriteRegister(Register.ECX, StringCompare.Index(intRes2, control));
        else
            WriteXmm(0, StringCompare.Mask(intRes2, control));
        SetArithmeticFlags(StringCompare.Flags(intRes2, length1, length2, control));
    }

    /// <summary>
    /// CRC32 r32/r64, r/m8/16/32/64: accumulates the source's bytes (least significant first) into the low 32 bits of the
    /// destination with the bit-reflected Castagnoli polynomial, no inversion on either side; a 64-bit destination gets
    /// the result zero-extended. Flags are unchanged.
    /// </summary>
    private void ExecuteCrc32(ref Instruction instruction)
    {
        int size = OperandSize(ref instruction, 1);
        ulong data = ReadOperand(ref instruction, 1, size);
        uint crc = (uint)ReadRegister(instruction.Op0Register);
        // .NET's CRC-32C step is this instruction's (reflected, no inversion), in software where the host lacks it.
        crc = size switch
        {
            1 => BitOperations.Crc32C(crc, (byte)data),
            2 => BitOperations.Crc32C(crc, (ushort)data),
            4 => BitOperations.Crc32C(crc, (uint)data),
            _ => BitOperations.Crc32C(crc, data),
        };
        // A 32-bit register write zero-extends in 64-bit mode; the r64 form writes all 64 bits, the upper half zero.
        WriteRegister(instruction.Op0Register, crc);
    }
}
