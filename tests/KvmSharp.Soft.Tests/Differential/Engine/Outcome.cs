using System.Text;

namespace KvmSharp.Soft.Tests.Differential;

/// <summary>How a run ended and the user-visible state at that point.</summary>
public enum OutcomeKind
{
    /// <summary>The stop OUT was reached.</summary>
    Stop,
    /// <summary>An exception was delivered to its ring-0 handler.</summary>
    Exception,
    /// <summary>Any other KVM exit (shutdown, internal error, an unexpected port…).</summary>
    OtherExit,
}

/// <summary>
/// The state compared between kernels. For an exception, RIP, RFLAGS and RSP come
/// from the interrupt frame, i.e. they are the interrupted user state.
/// </summary>
public sealed record Outcome(OutcomeKind Kind, string Detail, int Vector, ulong ErrorCode, ulong Cr2, ulong[] Gprs, ulong Rip, ulong Rflags, byte[] Data)
{
    /// <summary>XMM0-15 as 32 little-endian quadwords.</summary>
    public ulong[] Xmm { get; init; } = new ulong[32];

    public uint Mxcsr { get; init; } = SseValues.DefaultMxcsr;

    public X87State X87 { get; init; } = X87State.Default;

    /// <summary>ES, CS, SS, DS, FS, GS (<see cref="SegmentState.Names"/>); empty when not known.</summary>
    public SegmentState[] Segments { get; init; } = [];

    /// <summary>The differences from <paramref name="expected"/>, ignoring RFLAGS bits in <paramref name="undefinedFlags"/>.</summary>
    public List<string> DifferencesFrom(Outcome expected, ulong undefinedFlags)
    {
        var differences = new List<string>();
        if (Kind != expected.Kind || Detail != expected.Detail)
            differences.Add($"end {Kind}{Suffix(Detail)} (expected {expected.Kind}{Suffix(expected.Detail)})");
        if (Kind == OutcomeKind.Exception && expected.Kind == OutcomeKind.Exception)
        {
            if (Vector != expected.Vector) differences.Add($"vector {Vector} (expected {expected.Vector})");
            if (ErrorCode != expected.ErrorCode) differences.Add($"error code 0x{ErrorCode:x} (expected 0x{expected.ErrorCode:x})");
            if (Vector == 14 && Cr2 != expected.Cr2) differences.Add($"cr2 0x{Cr2:x} (expected 0x{expected.Cr2:x})");
        }
        if (Rip != expected.Rip) differences.Add($"rip 0x{Rip:x} (expected 0x{expected.Rip:x})");
        if ((Rflags & ~undefinedFlags) != (expected.Rflags & ~undefinedFlags))
            differences.Add($"rflags 0x{Rflags:x} (expected 0x{expected.Rflags:x}, undefined 0x{undefinedFlags:x})");
        for (int i = 0; i < TestCase.GprCount; i++)
            if (Gprs[i] != expected.Gprs[i])
                differences.Add($"{TestCase.GprNames[i]} 0x{Gprs[i]:x} (expected 0x{expected.Gprs[i]:x})");
        for (int i = 0; i < 16; i++)
            if (Xmm[2 * i] != expected.Xmm[2 * i] || Xmm[2 * i + 1] != expected.Xmm[2 * i + 1])
                differences.Add($"xmm{i} {XmmText(Xmm, i)} (expected {XmmText(expected.Xmm, i)})");
        if (Mxcsr != expected.Mxcsr) differences.Add($"mxcsr 0x{Mxcsr:x} (expected 0x{expected.Mxcsr:x})");
        if (X87.Fcw != expected.X87.Fcw) differences.Add($"fcw 0x{X87.Fcw:x} (expected 0x{expected.X87.Fcw:x})");
        if (X87.Fsw != expected.X87.Fsw) differences.Add($"fsw 0x{X87.Fsw:x} (expected 0x{expected.X87.Fsw:x})");
        if (X87.Ftw != expected.X87.Ftw) differences.Add($"ftw 0x{X87.Ftw:x} (expected 0x{expected.X87.Ftw:x})");
        for (int i = 0; i < 8; i++)
            if (X87.Significands[i] != expected.X87.Significands[i] || X87.SignExponents[i] != expected.X87.SignExponents[i])
                differences.Add($"st{i} {X87.RegisterText(i)} (expected {expected.X87.RegisterText(i)})");
        for (int i = 0; i < Math.Min(Segments.Length, expected.Segments.Length); i++)
            if (!Segments[i].SameAs(expected.Segments[i]))
                differences.Add($"{SegmentState.Names[i]} {Segments[i]} (expected {expected.Segments[i]})");
        int ranges = 0;
        for (int i = 0; i < Data.Length; i++)
        {
            if (Data[i] == expected.Data[i]) continue;
            int end = i;
            while (end + 1 < Data.Length && Data[end + 1] != expected.Data[end + 1]) end++;
            if (++ranges <= MaxDataRangesShown)
            {
                int shown = Math.Min(end - i + 1, 16);
                string more = end - i + 1 > shown ? "…" : "";
                differences.Add($"data[0x{i:x}..0x{end:x}] {Convert.ToHexStringLower(Data, i, shown)}{more} (expected {Convert.ToHexStringLower(expected.Data, i, shown)}{more})");
            }
            i = end;
        }
        if (ranges > MaxDataRangesShown)
            differences.Add($"data: {ranges - MaxDataRangesShown} more differing ranges");
        return differences;
    }

    private const int MaxDataRangesShown = 4;

    /// <summary>An XMM register as one 128-bit hex number, the way a debugger shows it.</summary>
    public static string XmmText(ulong[] xmm, int index) => $"0x{xmm[2 * index + 1]:x16}{xmm[2 * index]:x16}";

    private static string Suffix(string detail) => detail.Length == 0 ? "" : $" ({detail})";

    public override string ToString()
    {
        var text = new StringBuilder($"{Kind}");
        if (Detail.Length > 0) text.Append($" {Detail}");
        if (Kind == OutcomeKind.Exception) text.Append($" vector {Vector} error 0x{ErrorCode:x} cr2 0x{Cr2:x}");
        text.Append($" rip 0x{Rip:x} rflags 0x{Rflags:x}");
        return text.ToString();
    }
}
