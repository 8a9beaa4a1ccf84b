using System.Runtime.Intrinsics;
using Iced.Intel;

namespace KvmSharp.Soft.Cpu;

/// <summary>
/// SSE4.1 (legacy 66 0F 38 / 66 0F 3A encodings, XMM only). PCMPEQQ, PMINUD, PMAXUD, PMULLD and PTEST share the SSE2
/// packed-integer core in X86Cpu.Sse.cs, MOVNTDQA the aligned moves, and the 0F 3A 15 form of PEXTRW the SSE2 PEXTRW;
/// everything else is here. Full 16-byte memory operands are alignment-checked (#GP(0)); the narrow ones (PMOVSX/ZX,
/// ROUNDSS/SD, INSERTPS, PINSR*, PEXTR*, EXTRACTPS) read or write only their size, without that check.
/// </summary>
public sealed unsafe partial class X86Cpu
{
    private bool TryExecuteSse41(ref Instruction instruction)
    {
        Mnemonic mnemonic = instruction.Mnemonic;
        switch (mnemonic)
        {
            case Mnemonic.Blendps: case Mnemonic.Blendpd: case Mnemonic.Pblendw:
            case Mnemonic.Blendvps: case Mnemonic.Blendvpd: case Mnemonic.Pblendvb:
            case Mnemonic.Packusdw: case Mnemonic.Pmuldq: case Mnemonic.Phminposuw: case Mnemonic.Mpsadbw:
            case Mnemonic.Pminsb: case Mnemonic.Pminsd: case Mnemonic.Pminuw:
            case Mnemonic.Pmaxsb: case Mnemonic.Pmaxsd: case Mnemonic.Pmaxuw:
            {
                int destination = XmmIndex(instruction.Op0Register);
                Vector128<ulong> source = ReadXmmOperand(ref instruction, 1, aligned: true);
                WriteXmm(destination, ComputeSse41Packed(mnemonic, ReadXmm(destination), source, instruction.Immediate8));
                return true;
            }
            case Mnemonic.Pmovsxbw: case Mnemonic.Pmovsxbd: case Mnemonic.Pmovsxbq:
            case Mnemonic.Pmovsxwd: case Mnemonic.Pmovsxwq: case Mnemonic.Pmovsxdq:
            case Mnemonic.Pmovzxbw: case Mnemonic.Pmovzxbd: case Mnemonic.Pmovzxbq:
            case Mnemonic.Pmovzxwd: case Mnemonic.Pmovzxwq: case Mnemonic.Pmovzxdq:
                // From memory only the 2, 4 or 8 bytes consumed are read, with no 16-byte alignment demand.
                WriteXmm(XmmIndex(instruction.Op0Register), ExtendPacked(mnemonic, ReadXmmOperand(ref instruction, 1, aligned: false)));
                return true;
            case Mnemonic.Pextrb: case Mnemonic.Pextrd: case Mnemonic.Pextrq: case Mnemonic.Extractps:
                ExecuteExtract(ref instruction);
                return true;
            case Mnemonic.Pinsrb: case Mnemonic.Pinsrd: case Mnemonic.Pinsrq:
                ExecuteInsertInteger(ref instruction);
                return true;
            case Mnemonic.Insertps:
                ExecuteInsertps(ref instruction);
                return true;
            case Mnemonic.Roundps: ExecuteRound(ref instruction, isDouble: false, scalar: false); return true;
            case Mnemonic.Roundpd: ExecuteRound(ref instruction, isDouble: true, scalar: false); return true;
            case Mnemonic.Roundss: ExecuteRound(ref instruction, isDouble: false, scalar: true); return true;
            case Mnemonic.Roundsd: ExecuteRound(ref instruction, isDouble: true, scalar: true); return true;
            case Mnemonic.Dpps: ExecuteDotProduct(ref instruction, isDouble: false); return true;
            case Mnemonic.Dppd: ExecuteDotProduct(ref instruction, isDouble: true); return true;
        }
        return false;
    }

    private Vector128<ulong> ComputeSse41Packed(Mnemonic mnemonic, Vector128<ulong> a, Vector128<ulong> b, int imm8)
    {
        switch (mnemonic)
        {
            case Mnemonic.Blendps: return SelectLanes(a.AsUInt32(), b.AsUInt32(), imm8).AsUInt64();
            case Mnemonic.Blendpd: return SelectLanes(a, b, imm8);
            case Mnemonic.Pblendw: return SelectLanes(a.AsUInt16(), b.AsUInt16(), imm8).AsUInt64();
            // The variable blends take their mask from the top bit of each lane of the implicit XMM0.
            case Mnemonic.Pblendvb: return SelectLanes(a.AsByte(), b.AsByte(), (int)ReadXmm(0).AsByte().ExtractMostSignificantBits()).AsUInt64();
            case Mnemonic.Blendvps: return SelectLanes(a.AsUInt32(), b.AsUInt32(), (int)ReadXmm(0).AsUInt32().ExtractMostSignificantBits()).AsUInt64();
            case Mnemonic.Blendvpd: return SelectLanes(a, b, (int)ReadXmm(0).ExtractMostSignificantBits());
            case Mnemonic.Pminsb: return Vector128.Min(a.AsSByte(), b.AsSByte()).AsUInt64();
            case Mnemonic.Pminsd: return Vector128.Min(a.AsInt32(), b.AsInt32()).AsUInt64();
            case Mnemonic.Pminuw: return Vector128.Min(a.AsUInt16(), b.AsUInt16()).AsUInt64();
            case Mnemonic.Pmaxsb: return Vector128.Max(a.AsSByte(), b.AsSByte()).AsUInt64();
            case Mnemonic.Pmaxsd: return Vector128.Max(a.AsInt32(), b.AsInt32()).AsUInt64();
            case Mnemonic.Pmaxuw: return Vector128.Max(a.AsUInt16(), b.AsUInt16()).AsUInt64();
            case Mnemonic.Pmuldq:
                // Signed products of the even doublewords, each a full quadword.
                return Vector128.Create((ulong)((long)a.AsInt32().GetElement(0) * b.AsInt32().GetElement(0)),
                    (ulong)((long)a.AsInt32().GetElement(2) * b.AsInt32().GetElement(2)));
            case Mnemonic.Packusdw:
            {
                Span<ushort> words = stackalloc ushort[8];
                for (int i = 0; i < 4; i++)
                {
                    words[i] = (ushort)Math.Clamp(a.AsInt32().GetElement(i), 0, ushort.MaxValue);
                    words[i + 4] = (ushort)Math.Clamp(b.AsInt32().GetElement(i), 0, ushort.MaxValue);
                }
                return Vector128.Create<ushort>(words).AsUInt64();
            }
            case Mnemonic.Phminposuw:
            {
                // The first (lowest-indexed) smallest word wins; its index sits in bits 16-18, the rest is zero.
                Vector128<ushort> words = b.AsUInt16();
                int index = 0;
                for (int i = 1; i < 8; i++)
                    if (words.GetElement(i) < words.GetElement(index)) index = i;
                return Vector128.Create(words.GetElement(index) | (ulong)index << 16, 0UL);
            }
            default: // MPSADBW
            {
                // Eight sums of absolute differences between a sliding 4-byte window of the destination (from byte 0 or 4,
                // imm8[2]) and one fixed doubleword of the source (imm8[1:0]).
                Vector128<byte> x = a.AsByte(), y = b.AsByte();
                int destinationStart = (imm8 >> 2 & 1) * 4, sourceStart = (imm8 & 3) * 4;
                Span<ushort> sums = stackalloc ushort[8];
                for (int i = 0; i < 8; i++)
                {
                    int sum = 0;
                    for (int k = 0; k < 4; k++) sum += Math.Abs(x.GetElement(destinationStart + i + k) - y.GetElement(sourceStart + k));
                    sums[i] = (ushort)sum;
                }
                return Vector128.Create<ushort>(sums).AsUInt64();
            }
        }
    }

    /// <summary>Lane i of the result is <paramref name="b"/>'s where bit i of <paramref name="selection"/> is set, else <paramref name="a"/>'s.</summary>
    private static Vector128<T> SelectLanes<T>(Vector128<T> a, Vector128<T> b, int selection) where T : unmanaged
    {
        Vector128<T> result = a;
        for (int i = 0; i < Vector128<T>.Count; i++)
            if ((selection >> i & 1) != 0) result = result.WithElement(i, b.GetElement(i));
        return result;
    }

    private static Vector128<ulong> ExtendPacked(Mnemonic mnemonic, Vector128<ulong> source) => mnemonic switch
    {
        Mnemonic.Pmovsxbw => Vector128.WidenLower(source.AsSByte()).AsUInt64(),
        Mnemonic.Pmovsxbd => Vector128.WidenLower(Vector128.WidenLower(source.AsSByte())).AsUInt64(),
        Mnemonic.Pmovsxbq => Vector128.WidenLower(Vector128.WidenLower(Vector128.WidenLower(source.AsSByte()))).AsUInt64(),
        Mnemonic.Pmovsxwd => Vector128.WidenLower(source.AsInt16()).AsUInt64(),
        Mnemonic.Pmovsxwq => Vector128.WidenLower(Vector128.WidenLower(source.AsInt16())).AsUInt64(),
        Mnemonic.Pmovsxdq => Vector128.WidenLower(source.AsInt32()).AsUInt64(),
        Mnemonic.Pmovzxbw => Vector128.WidenLower(source.AsByte()).AsUInt64(),
        Mnemonic.Pmovzxbd => Vector128.WidenLower(Vector128.WidenLower(source.AsByte())).AsUInt64(),
        Mnemonic.Pmovzxbq => Vector128.WidenLower(Vector128.WidenLower(Vector128.WidenLower(source.AsByte()))).AsUInt64(),
        Mnemonic.Pmovzxwd => Vector128.WidenLower(source.AsUInt16()).AsUInt64(),
        Mnemonic.Pmovzxwq => Vector128.WidenLower(Vector128.WidenLower(source.AsUInt16())).AsUInt64(),
        _ => Vector128.WidenLower(source.AsUInt32()).AsUInt64(), // PMOVZXDQ
    };

    /// <summary>
    /// PEXTRB/PEXTRD/PEXTRQ/EXTRACTPS: the selected element goes to memory at its own size, or zero-extended into the
    /// whole general register (EXTRACTPS to a 64-bit register too, with its doubleword zero-extended).
    /// </summary>
    private void ExecuteExtract(ref Instruction instruction)
    {
        Vector128<ulong> source = ReadXmm(XmmIndex(instruction.Op1Register));
        int selector = instruction.Immediate8;
        (ulong value, int size) = instruction.Mnemonic switch
        {
            Mnemonic.Pextrb => (source.AsByte().GetElement(selector & 15), 1),
            Mnemonic.Pextrq => (source.GetElement(selector & 1), 8),
            _ => ((ulong)source.AsUInt32().GetElement(selector & 3), 4),
        };
        WriteOperand(ref instruction, 0, size, value);
    }

    /// <summary>PINSRB/PINSRD/PINSRQ: the low byte, doubleword or quadword of a register, or that many bytes of memory.</summary>
    private void ExecuteInsertInteger(ref Instruction instruction)
    {
        int destination = XmmIndex(instruction.Op0Register);
        int selector = instruction.Immediate8;
        Vector128<ulong> current = ReadXmm(destination);
        switch (instruction.Mnemonic)
        {
            case Mnemonic.Pinsrb:
            {
                byte value = (byte)ReadOperand(ref instruction, 1, 1);
                WriteXmm(destination, current.AsByte().WithElement(selector & 15, value).AsUInt64());
                break;
            }
            case Mnemonic.Pinsrd:
                WriteXmm(destination, current.AsUInt32().WithElement(selector & 3, (uint)ReadOperand(ref instruction, 1, 4)).AsUInt64());
                break;
            default:
                WriteXmm(destination, current.WithElement(selector & 1, ReadOperand(ref instruction, 1, 8)));
                break;
        }
    }

    /// <summary>
    /// INSERTPS: a single from the source (register: the element imm8[7:6]; memory: 4 bytes, no alignment demand) replaces
    /// destination element imm8[5:4], then the elements whose imm8[3:0] bit is set become zero.
    /// </summary>
    private void ExecuteInsertps(ref Instruction instruction)
    {
        int destination = XmmIndex(instruction.Op0Register);
        int control = instruction.Immediate8;
        uint value = instruction.Op1Kind == OpKind.Register
            ? ReadXmm(XmmIndex(instruction.Op1Register)).AsUInt32().GetElement(control >> 6 & 3)
            : (uint)ReadOperand(ref instruction, 1, 4);
        Vector128<uint> result = ReadXmm(destination).AsUInt32().WithElement(control >> 4 & 3, value);
        for (int i = 0; i < 4; i++)
            if ((control >> i & 1) != 0) result = result.WithElement(i, 0u);
        WriteXmm(destination, result.AsUInt64());
    }

    /// <summary>
    /// ROUNDPS/PD/SS/SD: each lane rounded to an integral value in the same format, by imm8[1:0] or, with imm8[2] set, by
    /// MXCSR.RC. A signalling NaN raises IE and comes out quietened; an inexact result raises PE unless imm8[3] is set.
    /// Denormals read as zero under DAZ; DE is never reported and FTZ has nothing to flush (an integral value is never
    /// a denormal).
    /// </summary>
    private void ExecuteRound(ref Instruction instruction, bool isDouble, bool scalar)
    {
        int destination = XmmIndex(instruction.Op0Register);
        Vector128<ulong> source = ReadFloatSource(ref instruction, isDouble, scalar);
        int control = instruction.Immediate8;
        uint mxcsr = Fpu.Mxcsr, flags = 0;
        int rc = (control & 4) != 0 ? (int)(mxcsr >> SseFloat.RoundingShift) & 3 : control & 3;
        bool daz = (mxcsr & SseFloat.DenormalsAreZero) != 0;
        int lanes = scalar ? 1 : isDouble ? 2 : 4;
        Vector128<ulong> result = scalar ? ReadXmm(destination) : source;
        for (int lane = 0; lane < lanes; lane++)
            result = WithLane(result, lane, SseFloat.RoundToIntegral(GetLane(source, lane, isDouble), isDouble, rc, daz, ref flags), isDouble);
        if ((control & 8) != 0) flags &= ~SseFloat.FlagPrecision;
        CompleteSimdFloat(flags);
        WriteXmm(destination, result);
    }

    /// <summary>
    /// DPPS/DPPD in the SDM's order of operations: the products of the lanes imm8[7:4] selects (+0.0 for the others),
    /// then their sums pairwise (DPPS: lanes 0+1 and 2+3, then those two), each operation rounded by MXCSR; the sum goes
    /// to the lanes imm8[3:0] selects, +0.0 to the rest. An unmasked exception stops the instruction at the step that
    /// raises it, with the flags of the steps before it already in MXCSR and no destination written.
    /// </summary>
    private void ExecuteDotProduct(ref Instruction instruction, bool isDouble)
    {
        int destination = XmmIndex(instruction.Op0Register);
        Vector128<ulong> b = ReadXmmOperand(ref instruction, 1, aligned: true);
        Vector128<ulong> a = ReadXmm(destination);
        int control = instruction.Immediate8;
        uint mxcsr = Fpu.Mxcsr;
        int lanes = isDouble ? 2 : 4;
        Span<ulong> products = stackalloc ulong[4];
        uint flags = 0;
        for (int lane = 0; lane < lanes; lane++)
            products[lane] = (control >> (4 + lane) & 1) != 0
                ? SseFloat.Multiply(GetLane(a, lane, isDouble), GetLane(b, lane, isDouble), isDouble, mxcsr, ref flags)
                : 0;
        CompleteSimdFloat(flags);
        flags = 0;
        ulong sum;
        if (isDouble)
        {
            sum = SseFloat.Add(products[0], products[1], true, mxcsr, ref flags);
        }
        else
        {
            ulong low = SseFloat.Add(products[0], products[1], false, mxcsr, ref flags);
            ulong high = SseFloat.Add(products[2], products[3], false, mxcsr, ref flags);
            CompleteSimdFloat(flags);
            flags = 0;
            sum = SseFloat.Add(low, high, false, mxcsr, ref flags);
        }
        CompleteSimdFloat(flags);
        Vector128<ulong> result = Vector128<ulong>.Zero;
        for (int lane = 0; lane < lanes; lane++)
            if ((control >> lane & 1) != 0) result = WithLane(result, lane, sum, isDouble);
        WriteXmm(destination, result);
    }
}
