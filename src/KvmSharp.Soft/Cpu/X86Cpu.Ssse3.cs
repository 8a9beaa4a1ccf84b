using System.Runtime.Intrinsics;
using Iced.Intel;

namespace KvmSharp.Soft.Cpu;

/// <summary>
/// SSSE3, in both its MMX (64-bit) and XMM (128-bit) forms: PABSB/W/D, PALIGNR, PHADDW/D, PHADDSW, PHSUBW/D, PHSUBSW,
/// PMADDUBSW, PMULHRSW, PSHUFB, PSIGNB/W/D. Both widths share one computation over the low <c>width</c> bytes of a
/// 128-bit value; only PSHUFB's index mask, PALIGNR's concatenation and the horizontal forms' halves depend on the width.
/// </summary>
public sealed unsafe partial class X86Cpu
{
    private static bool IsSsse3(Mnemonic mnemonic) => mnemonic is Mnemonic.Pabsb or Mnemonic.Pabsw or Mnemonic.Pabsd
        or Mnemonic.Palignr or Mnemonic.Phaddw or Mnemonic.Phaddd or Mnemonic.Phaddsw or Mnemonic.Phsubw or Mnemonic.Phsubd
        or Mnemonic.Phsubsw or Mnemonic.Pmaddubsw or Mnemonic.Pmulhrsw or Mnemonic.Pshufb or Mnemonic.Psignb
        or Mnemonic.Psignw or Mnemonic.Psignd;

    private bool TryExecuteSsse3(ref Instruction instruction)
    {
        if (!IsSsse3(instruction.Mnemonic)) return false;
        if (instruction.Op0Register.IsMM())
        {
            // As the other MMX instructions: #UD with CR0.EM, #NM with CR0.TS, then (checked by the caller) a pending x87
            // exception; only a completed instruction switches the x87 unit to MMX use.
            if ((Cr0 & X86.Cr0Em) != 0) throw Ud();
            if ((Cr0 & X86.Cr0Ts) != 0) throw Fault(X86.VectorDeviceNotAvailable);
            ulong source = ReadMmOperand(ref instruction, 1);
            ulong destination = ReadMm(instruction.Op0Register);
            Vector128<ulong> mmxResult = ComputeSsse3(ref instruction, Vector128.Create(destination, 0UL), Vector128.Create(source, 0UL), width: 8);
            WriteMm(instruction.Op0Register, mmxResult.GetElement(0));
            EnterMmxMode();
            return true;
        }
        CheckSseAvailable();
        int index = XmmIndex(instruction.Op0Register);
        Vector128<ulong> b = ReadXmmOperand(ref instruction, 1, aligned: true);
        WriteXmm(index, ComputeSsse3(ref instruction, ReadXmm(index), b, width: 16));
        return true;
    }

    /// <summary>The SSSE3 operation on the low <paramref name="width"/> bytes of destination <paramref name="a"/> and source <paramref name="b"/>.</summary>
    private static Vector128<ulong> ComputeSsse3(ref Instruction instruction, Vector128<ulong> a, Vector128<ulong> b, int width)
    {
        Span<byte> x = stackalloc byte[16], y = stackalloc byte[16], r = stackalloc byte[16];
        a.AsByte().CopyTo(x);
        b.AsByte().CopyTo(y);
        r.Clear();
        switch (instruction.Mnemonic)
        {
            case Mnemonic.Pabsb: MapLanes(y, y, r, width, 1, (_, v) => Math.Abs(v)); break;
            case Mnemonic.Pabsw: MapLanes(y, y, r, width, 2, (_, v) => Math.Abs(v)); break;
            case Mnemonic.Pabsd: MapLanes(y, y, r, width, 4, (_, v) => Math.Abs(v)); break;
            case Mnemonic.Psignb: MapLanes(x, y, r, width, 1, Sign); break;
            case Mnemonic.Psignw: MapLanes(x, y, r, width, 2, Sign); break;
            case Mnemonic.Psignd: MapLanes(x, y, r, width, 4, Sign); break;
            // (a × b + 2^14) >> 15, the rounded high half of the doubled product; only 0x8000 × 0x8000 leaves 16 bits.
            case Mnemonic.Pmulhrsw: MapLanes(x, y, r, width, 2, (p, q) => ((p * q >> 14) + 1) >> 1); break;
            case Mnemonic.Phaddw: PairLanes(x, y, r, width, 2, (p, q) => p + q); break;
            case Mnemonic.Phaddd: PairLanes(x, y, r, width, 4, (p, q) => p + q); break;
            case Mnemonic.Phaddsw: PairLanes(x, y, r, width, 2, (p, q) => Math.Clamp(p + q, short.MinValue, short.MaxValue)); break;
            case Mnemonic.Phsubw: PairLanes(x, y, r, width, 2, (p, q) => p - q); break;
            case Mnemonic.Phsubd: PairLanes(x, y, r, width, 4, (p, q) => p - q); break;
            case Mnemonic.Phsubsw: PairLanes(x, y, r, width, 2, (p, q) => Math.Clamp(p - q, short.MinValue, short.MaxValue)); break;
            case Mnemonic.Pmaddubsw:
                // Unsigned bytes of the destination times signed bytes of the source, neighbours summed with signed saturation.
                for (int i = 0; i < width; i += 2)
                {
                    long sum = x[i] * (long)(sbyte)y[i] + x[i + 1] * (long)(sbyte)y[i + 1];
                    WriteLane(r, i, 2, Math.Clamp(sum, short.MinValue, short.MaxValue));
                }
                break;
            case Mnemonic.Pshufb:
                for (int i = 0; i < width; i++)
                    r[i] = (y[i] & 0x80) != 0 ? (byte)0 : x[y[i] & (width - 1)];
                break;
            case Mnemonic.Palignr:
            {
                // Destination above source, shifted right by imm8 bytes; bytes from beyond the pair read as zero.
                int shift = instruction.Immediate8;
                for (int i = 0; i < width; i++)
                {
                    int at = shift + i;
                    r[i] = at < width ? y[at] : at < 2 * width ? x[at - width] : (byte)0;
                }
                break;
            }
            default:
                throw new InvalidOperationException($"{instruction.Mnemonic} is not an SSSE3 instruction.");
        }
        return Vector128.Create<byte>(r).AsUInt64();
    }

    private static long Sign(long value, long selector) => selector < 0 ? -value : selector == 0 ? 0 : value;

    private static long ReadLane(ReadOnlySpan<byte> bytes, int offset, int size) => size switch
    {
        1 => (sbyte)bytes[offset],
        2 => BitConverter.ToInt16(bytes[offset..]),
        _ => BitConverter.ToInt32(bytes[offset..]),
    };

    /// <summary>Stores the low <paramref name="size"/> bytes of <paramref name="value"/> (wrapping, as the packed adds do).</summary>
    private static void WriteLane(Span<byte> bytes, int offset, int size, long value)
    {
        for (int k = 0; k < size; k++) bytes[offset + k] = (byte)(value >> (8 * k));
    }

    /// <summary>Lane-wise signed operation of the destination's and source's lanes of <paramref name="size"/> bytes.</summary>
    private static void MapLanes(ReadOnlySpan<byte> x, ReadOnlySpan<byte> y, Span<byte> r, int width, int size, Func<long, long, long> operation)
    {
        for (int i = 0; i < width; i += size)
            WriteLane(r, i, size, operation(ReadLane(x, i, size), ReadLane(y, i, size)));
    }

    /// <summary>
    /// Horizontal forms: each result lane combines a pair of neighbouring lanes (even lane first); the lower half of the
    /// result comes from the destination's pairs, the upper half from the source's.
    /// </summary>
    private static void PairLanes(ReadOnlySpan<byte> x, ReadOnlySpan<byte> y, Span<byte> r, int width, int size, Func<long, long, long> operation)
    {
        int half = width / 2;
        for (int i = 0; i < half; i += size)
        {
            WriteLane(r, i, size, operation(ReadLane(x, 2 * i, size), ReadLane(x, 2 * i + size, size)));
            WriteLane(r, half + i, size, operation(ReadLane(y, 2 * i, size), ReadLane(y, 2 * i + size, size)));
        }
    }
}
