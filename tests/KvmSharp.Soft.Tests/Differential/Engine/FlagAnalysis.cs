using Iced.Intel;

namespace KvmSharp.Soft.Tests.Differential;

/// <summary>
/// Which RFLAGS bits the architecture leaves undefined after a prefix of a
/// sequence, from Iced's per-instruction tables, refined where the table is
/// static but the rule depends on a shift count.
/// </summary>
public static class FlagAnalysis
{
    public const ulong ArithmeticFlags = Cf | Pf | Af | Zf | Sf | Of;
    private const ulong Cf = 1, Pf = 4, Af = 0x10, Zf = 0x40, Sf = 0x80, Df = 0x400, Of = 0x800;

    /// <summary>One decoded instruction with the undefined flags before and after it.</summary>
    public readonly record struct Step(Instruction Instruction, int Offset, ulong UndefinedBefore, ulong UndefinedAfter, bool ReadsUndefined);

    public static List<Step> Analyze(byte[] code, int bitness)
    {
        var steps = new List<Step>();
        var decoder = Decoder.Create(bitness, new ByteArrayCodeReader(code));
        ulong start = DiffMachine.CodeStart(bitness);
        decoder.IP = start;
        ulong undefined = 0;
        while (decoder.IP < start + (ulong)code.Length)
        {
            int offset = (int)(decoder.IP - start);
            decoder.Decode(out var instruction);
            bool reads = (ToRflags(instruction.RflagsRead) & undefined) != 0;
            ulong after = Apply(instruction, undefined);
            steps.Add(new Step(instruction, offset, undefined, after, reads));
            undefined = after;
        }
        return steps;
    }

    /// <summary>The undefined flags when execution stands at <paramref name="rip"/>.</summary>
    public static ulong UndefinedAt(byte[] code, int bitness, ulong rip)
    {
        ulong undefined = 0;
        foreach (var step in Analyze(code, bitness))
        {
            if (DiffMachine.CodeStart(bitness) + (ulong)step.Offset >= rip)
                return step.UndefinedBefore;
            undefined = step.UndefinedAfter;
        }
        return undefined;
    }

    /// <summary>Whether some instruction consumes a flag an earlier one left undefined; such a sequence proves nothing.</summary>
    public static bool ReadsUndefinedFlag(byte[] code, int bitness) => Analyze(code, bitness).Any(s => s.ReadsUndefined);

    public static ulong Apply(in Instruction instruction, ulong undefined)
    {
        ulong newlyUndefined = ToRflags(instruction.RflagsUndefined);
        ulong defined = ToRflags(instruction.RflagsModified) & ~newlyUndefined;
        // A REP string instruction with RCX = 0, like a shift by a zero count, leaves every flag as it was.
        if (instruction.HasRepPrefix || instruction.HasRepePrefix || instruction.HasRepnePrefix)
            return undefined | newlyUndefined;
        if (IsCountedShift(instruction.Mnemonic))
        {
            int? count = ShiftCount(instruction);
            if (count is null)
                return undefined | newlyUndefined; // by CL: a zero count changes nothing, so nothing becomes defined
            if (count == 0)
                return undefined;
            if (count == 1 && (newlyUndefined & Of) != 0)
            {
                newlyUndefined &= ~Of;
                defined |= Of;
            }
        }
        return (undefined & ~defined) | newlyUndefined;
    }

    private static bool IsCountedShift(Mnemonic m) => m is Mnemonic.Shl or Mnemonic.Sal or Mnemonic.Shr or Mnemonic.Sar
        or Mnemonic.Rol or Mnemonic.Ror or Mnemonic.Rcl or Mnemonic.Rcr or Mnemonic.Shld or Mnemonic.Shrd;

    /// <summary>The masked count, or null when it comes from CL.</summary>
    private static int? ShiftCount(in Instruction instruction)
    {
        int last = instruction.OpCount - 1;
        if (instruction.GetOpKind(last) == OpKind.Register)
            return instruction.GetOpRegister(last) == Register.CL ? null : 1;
        int width = instruction.GetOpKind(0) == OpKind.Memory ? instruction.MemorySize.GetSize() : instruction.GetOpRegister(0).GetSize();
        int count = (int)(instruction.GetImmediate(last) & (width == 8 ? 0x3Fu : 0x1Fu));
        return count;
    }

    public static ulong ToRflags(int bits)
    {
        var b = (RflagsBits)bits;
        ulong r = 0;
        if ((b & RflagsBits.CF) != 0) r |= Cf;
        if ((b & RflagsBits.PF) != 0) r |= Pf;
        if ((b & RflagsBits.AF) != 0) r |= Af;
        if ((b & RflagsBits.ZF) != 0) r |= Zf;
        if ((b & RflagsBits.SF) != 0) r |= Sf;
        if ((b & RflagsBits.OF) != 0) r |= Of;
        if ((b & RflagsBits.DF) != 0) r |= Df;
        return r;
    }

    public static ulong ToRflags(RflagsBits bits) => ToRflags((int)bits);
}
