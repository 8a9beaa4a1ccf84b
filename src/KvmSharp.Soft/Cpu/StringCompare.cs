using System.Numerics;
using System.Runtime.Intrinsics;

namespace KvmSharp.Soft.Cpu;

/// <summary>
/// The comparison engine of the SSE4.2 string instructions (PCMPESTRI/PCMPESTRM/PCMPISTRI/PCMPISTRM), as the SDM defines
/// it: an element-by-element comparison matrix of the two operands, aggregated per the control byte into IntRes1, the
/// polarity applied to give IntRes2, from which the instructions derive an index or a mask and the flags.
/// </summary>
/// <remarks>
/// Control byte: bits 1:0 element format (unsigned bytes, unsigned words, signed bytes, signed words), bits 3:2
/// aggregation (equal any, ranges, equal each, equal ordered), bits 5:4 polarity (positive, negative, masked positive,
/// masked negative), bit 6 the output selection (most significant index / expanded mask). Bit 7 has no effect.
/// </remarks>
internal static class StringCompare
{
    private const int EqualAny = 0, Ranges = 1, EqualEach = 2, EqualOrdered = 3;

    public static bool UsesWords(byte control) => (control & 1) != 0;

    public static int ElementCount(byte control) => UsesWords(control) ? 8 : 16;

    /// <summary>An explicit length (EAX/RAX or EDX/RDX): its absolute value, saturated to the element count.</summary>
    public static int ExplicitLength(long value, byte control)
    {
        // The magnitude of long.MinValue does not fit a long, but as an unsigned value it is still far above the count.
        ulong magnitude = value < 0 ? (ulong)-value : (ulong)value;
        int count = ElementCount(control);
        return magnitude >= (ulong)count ? count : (int)magnitude;
    }

    /// <summary>An implicit length: the index of the first zero element, or the element count when there is none.</summary>
    public static int ImplicitLength(Vector128<ulong> value, byte control)
    {
        uint zeros = UsesWords(control)
            ? Vector128.Equals(value.AsUInt16(), Vector128<ushort>.Zero).ExtractMostSignificantBits()
            : Vector128.Equals(value.AsByte(), Vector128<byte>.Zero).ExtractMostSignificantBits();
        return zeros == 0 ? ElementCount(control) : BitOperations.TrailingZeroCount(zeros);
    }

    /// <summary>
    /// IntRes2: bit j is the aggregated (and polarity-adjusted) result for element j of <paramref name="source2"/>. Only
    /// the low <see cref="ElementCount"/> bits can be set.
    /// </summary>
    public static uint Compare(Vector128<ulong> source1, int length1, Vector128<ulong> source2, int length2, byte control)
    {
        int count = ElementCount(control);
        Span<int> a = stackalloc int[16], b = stackalloc int[16];
        Elements(source1, control, a);
        Elements(source2, control, b);
        uint all = (1u << count) - 1;
        uint intRes1 = 0;
        switch ((control >> 2) & 3)
        {
            case EqualAny:
                // Element j of source 2 is a member of the set formed by the valid elements of source 1.
                for (int j = 0; j < length2; j++)
                    for (int i = 0; i < length1; i++)
                        if (a[i] == b[j]) { intRes1 |= 1u << j; break; }
                break;
            case Ranges:
                // Source 1 holds (low, high) pairs; an odd valid element without its partner bounds nothing.
                for (int j = 0; j < length2; j++)
                    for (int i = 0; i + 1 < length1; i += 2)
                        if (a[i] <= b[j] && b[j] <= a[i + 1]) { intRes1 |= 1u << j; break; }
                break;
            case EqualEach:
                // Past both lengths the elements count as equal; past one of them as different.
                for (int i = 0; i < count; i++)
                {
                    bool valid1 = i < length1, valid2 = i < length2;
                    bool equal = valid1 && valid2 ? a[i] == b[i] : !valid1 && !valid2;
                    if (equal) intRes1 |= 1u << i;
                }
                break;
            default:
                // Source 1 is a needle matched at each position j of source 2: elements of the needle past its length
                // match anything, valid ones never match past source 2's length, and a match running off the end of the
                // register is a (partial) match.
                for (int j = 0; j < count; j++)
                {
                    bool match = true;
                    for (int k = 0; match && j + k < count; k++)
                    {
                        if (k >= length1) break;
                        match = j + k < length2 && a[k] == b[j + k];
                    }
                    if (match) intRes1 |= 1u << j;
                }
                break;
        }
        uint validMask2 = (1u << length2) - 1;
        return ((control >> 4) & 3) switch
        {
            1 => ~intRes1 & all,
            3 => (intRes1 ^ validMask2) & all,
            _ => intRes1,
        };
    }

    /// <summary>Arithmetic flags: CF = IntRes2 ≠ 0, ZF = source 2 shorter than a register, SF = source 1 shorter, OF = IntRes2[0].</summary>
    public static ulong Flags(uint intRes2, int length1, int length2, byte control)
    {
        int count = ElementCount(control);
        ulong flags = 0;
        if (intRes2 != 0) flags |= X86.FlagCarry;
        if (length2 < count) flags |= X86.FlagZero;
        if (length1 < count) flags |= X86.FlagSign;
        if ((intRes2 & 1) != 0) flags |= X86.FlagOverflow;
        return flags;
    }

    /// <summary>PCMPxSTRI's ECX: the least (bit 6 clear) or most significant set bit of IntRes2, the element count if none.</summary>
    public static uint Index(uint intRes2, byte control)
    {
        if (intRes2 == 0) return (uint)ElementCount(control);
        return (control & 0x40) != 0 ? (uint)(31 - BitOperations.LeadingZeroCount(intRes2)) : (uint)BitOperations.TrailingZeroCount(intRes2);
    }

    /// <summary>PCMPxSTRM's XMM0: IntRes2 zero-extended (bit 6 clear), or each bit widened to a whole byte or word.</summary>
    public static Vector128<ulong> Mask(uint intRes2, byte control)
    {
        if ((control & 0x40) == 0) return Vector128.Create((ulong)intRes2, 0UL);
        int count = ElementCount(control), width = 16 / count;
        Span<byte> bytes = stackalloc byte[16];
        for (int i = 0; i < count; i++)
            bytes.Slice(i * width, width).Fill((intRes2 >> i & 1) != 0 ? (byte)0xFF : (byte)0);
        return Vector128.Create<byte>(bytes).AsUInt64();
    }

    private static void Elements(Vector128<ulong> value, byte control, Span<int> elements)
    {
        bool signed = (control & 2) != 0;
        if (UsesWords(control))
        {
            Vector128<ushort> words = value.AsUInt16();
            for (int i = 0; i < 8; i++) elements[i] = signed ? (short)words.GetElement(i) : words.GetElement(i);
        }
        else
        {
            Vector128<byte> bytes = value.AsByte();
            for (int i = 0; i < 16; i++) elements[i] = signed ? (sbyte)bytes.GetElement(i) : bytes.GetElement(i);
        }
    }
}
