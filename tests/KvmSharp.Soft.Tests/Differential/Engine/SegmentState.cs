using KvmSharp.Abi;

namespace KvmSharp.Soft.Tests.Differential;

/// <summary>
/// One segment register as KVM_GET_SREGS reports it: the selector and the descriptor cache (base, byte-granular limit,
/// and the attributes packed as VMX access rights: type, S, DPL, P, AVL, L, D/B, G, and bit 16 for unusable).
/// </summary>
public readonly record struct SegmentState(ushort Selector, ulong Base, uint Limit, uint Attributes)
{
    /// <summary>The compared segment registers, in the order vectors.txt lists them.</summary>
    public static readonly string[] Names = ["es", "cs", "ss", "ds", "fs", "gs"];

    public const uint UnusableBit = 1 << 16;

    public static SegmentState From(in KvmSegment s) => new(s.Selector, s.Base, s.Limit,
        (uint)(s.Type | s.S << 4 | s.Dpl << 5 | s.Present << 7 | s.Avl << 12 | s.L << 13 | s.Db << 14 | s.G << 15 | s.Unusable << 16));

    public static SegmentState[] All(in KvmSregs s) => [From(s.Es), From(s.Cs), From(s.Ss), From(s.Ds), From(s.Fs), From(s.Gs)];

    /// <summary>
    /// Equal as the guest can tell: an unusable segment (a null selector loaded in protected mode) has no cache to speak of,
    /// so only the selector and unusability count.
    /// </summary>
    public bool SameAs(SegmentState other) =>
        (Attributes & UnusableBit) != 0 && (other.Attributes & UnusableBit) != 0 ? Selector == other.Selector : this == other;

    public override string ToString() => $"0x{Selector:x}/0x{Base:x}/0x{Limit:x}/0x{Attributes:x}";

    public static SegmentState Parse(string text)
    {
        string[] parts = text.Split('/');
        static ulong Hex(string t) => Convert.ToUInt64(t, 16);
        return new SegmentState((ushort)Hex(parts[0]), Hex(parts[1]), (uint)Hex(parts[2]), (uint)Hex(parts[3]));
    }
}
