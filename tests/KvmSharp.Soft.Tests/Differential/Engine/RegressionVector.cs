using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Iced.Intel;

namespace KvmSharp.Soft.Tests.Differential;

/// <summary>
/// A minimized case and what the hardware did with it, as one line of vectors.txt:
/// <c>name | initial state | code | host: result [| known-mismatch: diagnosis]</c>.
/// </summary>
public sealed record RegressionVector(string Name, TestCase Test, Outcome Host, string? KnownMismatch)
{
    private const string HostPrefix = "host:";
    private const string KnownPrefix = "known-mismatch:";

    /// <summary>A name that says which instruction and which state diverged, plus a short hash for uniqueness.</summary>
    public static string NameFor(Comparison comparison)
    {
        var steps = FlagAnalysis.Analyze(comparison.Test.Code, comparison.Test.Bitness);
        string what = string.Join("+", comparison.Differences.Select(Aspect).Distinct().Order());
        string hash = Convert.ToHexStringLower(SHA256.HashData(comparison.Test.Code))[..6];
        var (host, soft) = (comparison.Host, comparison.Soft);
        // A wrong interrupt frame is a property of the exception, whichever instruction raised it.
        if (host.Kind == OutcomeKind.Exception && soft.Kind == OutcomeKind.Exception && host.Vector == soft.Vector && what == "rflags")
            return $"exception{host.Vector}-frame-{what}-{hash}";
        // Soft has no alignment checking at all, so a missed #AC is one bug whichever instruction was misaligned.
        if (host.Vector == 17 && soft.Vector != 17)
            return $"{End(host)}-vs-{End(soft)}-{hash}";
        // The instruction where the kernels part: the one that faulted on either side, else the last one before the earlier stop.
        ulong divergence = Math.Min(host.Rip, soft.Rip);
        bool faulted = host.Kind == OutcomeKind.Exception || soft.Kind == OutcomeKind.Exception;
        ulong start = DiffMachine.CodeStart(comparison.Test.Bitness);
        var culprit = faulted && steps.Any(s => start + (ulong)s.Offset == divergence)
            ? steps.First(s => start + (ulong)s.Offset == divergence)
            : steps.LastOrDefault(s => start + (ulong)s.Offset < divergence);
        if (culprit.Instruction.Code == Code.INVALID && steps.Count > 0) culprit = steps[^1];
        var instruction = culprit.Instruction;
        int width = instruction.OpCount == 0 ? 0
            : instruction.GetOpKind(0) == OpKind.Memory ? instruction.MemorySize.GetSize() * 8
            : instruction.GetOpKind(0) == OpKind.Register ? instruction.GetOpRegister(0).GetSize() * 8 : 0;
        string culpritName = $"{instruction.Mnemonic.ToString().ToLowerInvariant()}{(width > 0 ? width.ToString(CultureInfo.InvariantCulture) : "")}";
        // A different way out (another vector, or none) says more than the state that follows from it.
        if (host.Kind != soft.Kind || host.Vector != soft.Vector)
            return $"{culpritName}-{End(host)}-vs-{End(soft)}-{hash}";
        return $"{culpritName}-{what}-{hash}";
    }

    private static string End(Outcome outcome) => outcome.Kind switch
    {
        OutcomeKind.Exception => $"exception{outcome.Vector}",
        OutcomeKind.Stop => "stop",
        _ => outcome.Detail.Split(' ')[0].ToLowerInvariant(),
    };

    /// <summary>The name without its hash: two vectors with the same signature most likely show the same bug.</summary>
    public string Signature => Name[..Name.LastIndexOf('-')];

    private static string Aspect(string difference)
    {
        string first = difference[..difference.IndexOfAny([' ', '[', ':'])];
        if (Array.IndexOf(TestCase.GprNames, first) >= 0) return "gpr";
        if (first.StartsWith("xmm", StringComparison.Ordinal)) return "xmm";
        if (Array.IndexOf(SegmentState.Names, first) >= 0) return "segment";
        return first.StartsWith("st", StringComparison.Ordinal) ? "st" : first;
    }

    public string Format()
    {
        var line = new StringBuilder(Name);
        line.Append($" | mode={Test.Mode.Tag()} seed=0x{Test.DataSeed:x} rflags=0x{Test.Rflags:x}");
        for (int i = 0; i < TestCase.GprCount; i++)
            line.Append($" {TestCase.GprNames[i]}=0x{Test.Gprs[i]:x}");
        if (Test.XmmSeed != 0) line.Append($" xmmseed=0x{Test.XmmSeed:x}");
        if (Test.Mxcsr != SseValues.DefaultMxcsr) line.Append($" mxcsr=0x{Test.Mxcsr:x}");
        line.Append(" | code=").Append(string.Join(",", Test.Instructions.Select(Convert.ToHexStringLower)));
        line.Append($" | {HostPrefix} end={Host.Kind.ToString().ToLowerInvariant()}");
        if (Host.Detail.Length > 0) line.Append($" detail={Host.Detail.Replace(' ', '_')}");
        if (Host.Kind == OutcomeKind.Exception)
            line.Append($" vector={Host.Vector} error=0x{Host.ErrorCode:x} cr2=0x{Host.Cr2:x}");
        line.Append($" rip=0x{Host.Rip:x} rflags=0x{Host.Rflags:x}");
        for (int i = 0; i < TestCase.GprCount; i++)
            line.Append($" {TestCase.GprNames[i]}=0x{Host.Gprs[i]:x}");
        line.Append(" mem=").Append(string.Join(",", MemoryChanges(Test.InitialData(), Host.Data)));
        // XMM registers and MXCSR only where they changed, like the data.
        ulong[] initialXmm = Test.InitialXmm();
        var xmmChanges = Enumerable.Range(0, 16)
            .Where(i => Host.Xmm[2 * i] != initialXmm[2 * i] || Host.Xmm[2 * i + 1] != initialXmm[2 * i + 1])
            .Select(i => $"{i}:{Outcome.XmmText(Host.Xmm, i)}").ToList();
        if (xmmChanges.Count > 0) line.Append(" xmm=").Append(string.Join(",", xmmChanges));
        if (Host.Mxcsr != Test.Mxcsr) line.Append($" mxcsr=0x{Host.Mxcsr:x}");
        var x87 = Test.InitialX87();
        if (Host.X87.Fcw != x87.Fcw) line.Append($" fcw=0x{Host.X87.Fcw:x}");
        if (Host.X87.Fsw != x87.Fsw) line.Append($" fsw=0x{Host.X87.Fsw:x}");
        if (Host.X87.Ftw != x87.Ftw) line.Append($" ftw=0x{Host.X87.Ftw:x}");
        var stChanges = Enumerable.Range(0, 8)
            .Where(i => Host.X87.Significands[i] != x87.Significands[i] || Host.X87.SignExponents[i] != x87.SignExponents[i])
            .Select(i => $"{i}:{Host.X87.RegisterText(i)}").ToList();
        if (stChanges.Count > 0) line.Append(" st=").Append(string.Join(",", stChanges));
        var initialSegments = DiffMachine.InitialSegments(Test.Mode);
        var segmentChanges = Enumerable.Range(0, Host.Segments.Length).Where(i => Host.Segments[i] != initialSegments[i])
            .Select(i => $"{SegmentState.Names[i]}:{Host.Segments[i]}").ToList();
        if (segmentChanges.Count > 0) line.Append(" seg=").Append(string.Join(",", segmentChanges));
        if (KnownMismatch is not null)
            line.Append($" | {KnownPrefix} {KnownMismatch}");
        return line.ToString();
    }

    public static RegressionVector Parse(string line)
    {
        string[] sections = line.Split(" | ");
        if (sections.Length is < 4 or > 5 || !sections[3].StartsWith(HostPrefix, StringComparison.Ordinal))
            throw new FormatException($"A vector line needs 'name | state | code=… | host: …' and an optional '| known-mismatch: …': {line}");
        var state = Fields(sections[1]);
        var mode = GuestModes.Parse(state["mode"]);
        var gprs = TestCase.GprNames.Select(n => Hex(state[n])).ToArray();
        var code = Fields(sections[2])["code"].Split(',', StringSplitOptions.RemoveEmptyEntries).Select(Convert.FromHexString).ToList();
        var test = new TestCase(mode, Hex(state["seed"]), gprs, Hex(state["rflags"]), code)
        {
            XmmSeed = state.TryGetValue("xmmseed", out var xmmSeed) ? Hex(xmmSeed) : 0,
            Mxcsr = state.TryGetValue("mxcsr", out var mxcsr) ? (uint)Hex(mxcsr) : SseValues.DefaultMxcsr,
        };

        var host = Fields(sections[3][HostPrefix.Length..]);
        var kind = Enum.Parse<OutcomeKind>(host["end"], ignoreCase: true);
        var data = test.InitialData();
        foreach (var change in host["mem"].Split(',', StringSplitOptions.RemoveEmptyEntries))
        {
            var (offset, bytes) = (Hex(change[..change.IndexOf(':')]), Convert.FromHexString(change[(change.IndexOf(':') + 1)..]));
            bytes.CopyTo(data, (int)offset);
        }
        var outcome = new Outcome(kind, host.TryGetValue("detail", out var detail) ? detail.Replace('_', ' ') : "",
            host.TryGetValue("vector", out var vector) ? int.Parse(vector, CultureInfo.InvariantCulture) : -1,
            host.TryGetValue("error", out var error) ? Hex(error) : 0, host.TryGetValue("cr2", out var cr2) ? Hex(cr2) : 0,
            TestCase.GprNames.Select(n => Hex(host[n])).ToArray(), Hex(host["rip"]), Hex(host["rflags"]), data)
        {
            Xmm = XmmAfter(test.InitialXmm(), host.TryGetValue("xmm", out var xmm) ? xmm : ""),
            Mxcsr = host.TryGetValue("mxcsr", out var hostMxcsr) ? (uint)Hex(hostMxcsr) : test.Mxcsr,
            X87 = X87After(test.InitialX87(), host),
            Segments = SegmentsAfter(DiffMachine.InitialSegments(mode), host.TryGetValue("seg", out var seg) ? seg : ""),
        };
        string? known = sections.Length == 5 && sections[4].StartsWith(KnownPrefix, StringComparison.Ordinal)
            ? sections[4][KnownPrefix.Length..].Trim() : null;
        if (sections.Length == 5 && known is null)
            throw new FormatException($"The fifth section must start with '{KnownPrefix}': {line}");
        return new RegressionVector(sections[0].Trim(), test, outcome, known);
    }

    private static X87State X87After(X87State initial, Dictionary<string, string> host)
    {
        var significands = (ulong[])initial.Significands.Clone();
        var signExponents = (ushort[])initial.SignExponents.Clone();
        foreach (var change in (host.TryGetValue("st", out var st) ? st : "").Split(',', StringSplitOptions.RemoveEmptyEntries))
        {
            int index = int.Parse(change[..change.IndexOf(':')], CultureInfo.InvariantCulture);
            string digits = change[(change.IndexOf(':') + 3)..];
            signExponents[index] = ushort.Parse(digits[..4], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
            significands[index] = ulong.Parse(digits[4..], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
        }
        return new X87State(
            host.TryGetValue("fcw", out var fcw) ? (ushort)Hex(fcw) : initial.Fcw,
            host.TryGetValue("fsw", out var fsw) ? (ushort)Hex(fsw) : initial.Fsw,
            host.TryGetValue("ftw", out var ftw) ? (byte)Hex(ftw) : initial.Ftw,
            significands, signExponents);
    }

    private static SegmentState[] SegmentsAfter(SegmentState[] initial, string changes)
    {
        var segments = (SegmentState[])initial.Clone();
        foreach (var change in changes.Split(',', StringSplitOptions.RemoveEmptyEntries))
            segments[Array.IndexOf(SegmentState.Names, change[..change.IndexOf(':')])] = SegmentState.Parse(change[(change.IndexOf(':') + 1)..]);
        return segments;
    }

    private static ulong[] XmmAfter(ulong[] initial, string changes)
    {
        var xmm = (ulong[])initial.Clone();
        foreach (var change in changes.Split(',', StringSplitOptions.RemoveEmptyEntries))
        {
            int index = int.Parse(change[..change.IndexOf(':')], CultureInfo.InvariantCulture);
            UInt128 value = UInt128.Parse(change[(change.IndexOf(':') + 3)..], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
            xmm[2 * index] = (ulong)value;
            xmm[2 * index + 1] = (ulong)(value >> 64);
        }
        return xmm;
    }

    /// <summary>Reads every vector of a file; blank lines and lines starting with # are comments.</summary>
    public static List<RegressionVector> Load(string path) =>
        File.ReadLines(path).Where(l => l.Length > 0 && !l.StartsWith('#')).Select(Parse).ToList();

    private static Dictionary<string, string> Fields(string section) =>
        section.Split(' ', StringSplitOptions.RemoveEmptyEntries)
            .Select(f => f.Split('=', 2))
            .ToDictionary(p => p[0], p => p.Length > 1 ? p[1] : "");

    private static ulong Hex(string text) =>
        ulong.Parse(text.StartsWith("0x", StringComparison.Ordinal) ? text[2..] : text, NumberStyles.HexNumber, CultureInfo.InvariantCulture);

    private static IEnumerable<string> MemoryChanges(byte[] before, byte[] after)
    {
        for (int i = 0; i < before.Length; i++)
        {
            if (before[i] == after[i]) continue;
            int end = i;
            while (end + 1 < before.Length && before[end + 1] != after[end + 1]) end++;
            yield return $"0x{i:x}:{Convert.ToHexStringLower(after, i, end - i + 1)}";
            i = end;
        }
    }
}
