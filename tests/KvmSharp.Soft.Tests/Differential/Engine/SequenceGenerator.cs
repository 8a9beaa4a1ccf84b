using Iced.Intel;

namespace KvmSharp.Soft.Tests.Differential;

/// <summary>
/// Random user-mode sequences of general-purpose instructions, drawn from Iced's
/// instruction table. Operands are random registers (never RSP, nor R15, which
/// holds the data page's address), memory inside the data page, and immediates
/// biased towards edge values; instructions that would fault by accident (DIV,
/// BT with a register bit offset, string ops) get a setup that keeps them in
/// bounds, except now and then, when they fault on purpose.
/// </summary>
public sealed class SequenceGenerator
{
    private static readonly HashSet<Mnemonic> s_mnemonics =
    [
        Mnemonic.Add, Mnemonic.Or, Mnemonic.Adc, Mnemonic.Sbb, Mnemonic.And, Mnemonic.Sub, Mnemonic.Xor, Mnemonic.Cmp,
        Mnemonic.Test, Mnemonic.Not, Mnemonic.Neg, Mnemonic.Inc, Mnemonic.Dec, Mnemonic.Mov, Mnemonic.Movzx, Mnemonic.Movsx,
        Mnemonic.Movsxd, Mnemonic.Lea, Mnemonic.Xchg, Mnemonic.Xadd, Mnemonic.Cmpxchg, Mnemonic.Cmpxchg8b, Mnemonic.Cmpxchg16b,
        Mnemonic.Bswap, Mnemonic.Shl, Mnemonic.Sal, Mnemonic.Shr, Mnemonic.Sar, Mnemonic.Rol, Mnemonic.Ror, Mnemonic.Rcl,
        Mnemonic.Rcr, Mnemonic.Shld, Mnemonic.Shrd, Mnemonic.Mul, Mnemonic.Imul, Mnemonic.Div, Mnemonic.Idiv, Mnemonic.Bt,
        Mnemonic.Bts, Mnemonic.Btr, Mnemonic.Btc, Mnemonic.Bsf, Mnemonic.Bsr, Mnemonic.Popcnt, Mnemonic.Lzcnt, Mnemonic.Push,
        Mnemonic.Pop, Mnemonic.Cbw, Mnemonic.Cwde, Mnemonic.Cdqe, Mnemonic.Cwd, Mnemonic.Cdq, Mnemonic.Cqo, Mnemonic.Clc,
        Mnemonic.Stc, Mnemonic.Cmc, Mnemonic.Cld, Mnemonic.Std, Mnemonic.Lahf, Mnemonic.Sahf, Mnemonic.Movbe, Mnemonic.Nop,
        Mnemonic.Cmovo, Mnemonic.Cmovno, Mnemonic.Cmovb, Mnemonic.Cmovae, Mnemonic.Cmove, Mnemonic.Cmovne, Mnemonic.Cmovbe,
        Mnemonic.Cmova, Mnemonic.Cmovs, Mnemonic.Cmovns, Mnemonic.Cmovp, Mnemonic.Cmovnp, Mnemonic.Cmovl, Mnemonic.Cmovge,
        Mnemonic.Cmovle, Mnemonic.Cmovg, Mnemonic.Seto, Mnemonic.Setno, Mnemonic.Setb, Mnemonic.Setae, Mnemonic.Sete,
        Mnemonic.Setne, Mnemonic.Setbe, Mnemonic.Seta, Mnemonic.Sets, Mnemonic.Setns, Mnemonic.Setp, Mnemonic.Setnp,
        Mnemonic.Setl, Mnemonic.Setge, Mnemonic.Setle, Mnemonic.Setg,
    ];

    /// <summary>
    /// The SIMD instruction sets Soft's CPUID advertises, whose instructions <see cref="SseCandidates"/> draws from.
    /// Declared before the tables built from it: static fields initialize in textual order.
    /// </summary>
    private static readonly HashSet<CpuidFeature> s_generatedSimdFeatures =
        [CpuidFeature.MMX, CpuidFeature.SSE, CpuidFeature.SSE2, CpuidFeature.SSE3, CpuidFeature.SSSE3, CpuidFeature.SSE4_1, CpuidFeature.SSE4_2];

    private static readonly Dictionary<int, Code[]> s_codes = new() { [64] = Candidates(64), [32] = Candidates(32), [16] = Candidates(16) };

    /// <summary>
    /// The instructions of the sets in <see cref="s_generatedSimdFeatures"/> (what Soft's CPUID advertises), 64-bit mode
    /// only: elsewhere kvm_pvm runs user code through KVM's instruction emulator, which implements few of them. Left out:
    /// RCPPS/RCPSS/RSQRTPS/RSQRTSS, whose
    /// approximations differ between Intel and AMD by design (the SDM only bounds their error), MASKMOVDQU, which writes
    /// through an implicit RDI, and LDMXCSR, which <see cref="MxcsrGroup"/> feeds valid values.
    /// </summary>
    private static readonly Code[] s_sseCodes = SseCandidates();

    /// <summary>
    /// The x87 instructions, 64-bit mode only (elsewhere KVM's emulator runs user code and implements almost none).
    /// Left out: the transcendentals (FSIN, FCOS, FSINCOS, FPTAN, FPATAN, F2XM1, FYL2X, FYL2XP1), whose last bits
    /// differ between implementations; FNSAVE/FRSTOR/FNSTENV/FLDENV, whose images hold the last instruction and data
    /// pointers, which AMD processors keep differently from the SDM's model; and FBLD/FBSTP (packed BCD). FISTTP, although
    /// CPUID lists it under SSE3, is an x87 store and is drawn here.
    /// </summary>
    private static readonly Code[] s_x87Codes = X87Candidates();
    private static readonly int[] s_shiftCounts = [0, 1, 2, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 255];

    private readonly SplitMix64 _rng;
    private readonly GuestMode _mode;
    private readonly int _bitness;
    /// <summary>The data page's address as the code sees it (an offset from DS in 16-bit mode).</summary>
    private readonly ulong _data;

    public SequenceGenerator(ulong seed, GuestMode mode = GuestMode.Long64)
    {
        _rng = new SplitMix64(seed);
        _mode = mode;
        _bitness = mode.Bitness();
        _data = DiffMachine.DataStart(_bitness);
    }

    /// <summary>How many table codes the generator draws from in <paramref name="mode"/>.</summary>
    public static int CandidateCount(GuestMode mode) => s_codes[mode.Bitness()].Length;

    public TestCase Next(int maxGroups = 16)
    {
        var gprs = new ulong[TestCase.GprCount];
        for (int i = 0; i < gprs.Length; i++)
            gprs[i] = _bitness == 64 || i < 8 ? _rng.Interesting() : 0;
        if (_bitness != 64)
            for (int i = 0; i < 8; i++) gprs[i] &= 0xFFFF_FFFF;
        gprs[4] = DiffMachine.StackTop(_bitness);
        if (_bitness == 64) gprs[15] = DiffMachine.DataAddress;
        ulong rflags = 0x3002 | (_rng.Next() & FlagAnalysis.ArithmeticFlags) | (_rng.Chance(15) ? 0x400UL : 0);

        var instructions = new List<byte[]>();
        ulong undefined = 0;
        int groups = 1 + _rng.Below(maxGroups);
        for (int g = 0; g < groups; g++)
        {
            List<byte[]>? group = null;
            for (int attempt = 0; attempt < 20 && group is null; attempt++)
                group = NextGroup();
            if (group is null) continue;
            if (ReadsUndefined(group, undefined))
                group.Insert(0, DefineFlags());
            if (ReadsUndefined(group, undefined)) continue;
            foreach (var bytes in group)
            {
                undefined = FlagAnalysis.Apply(Decode(bytes), undefined);
                instructions.Add(bytes);
            }
        }
        var test = new TestCase(_mode, _rng.Next(), gprs, rflags, instructions);
        if (_bitness == 64) test = test with { XmmSeed = _rng.Next() | 1, Mxcsr = SseValues.Mxcsr(_rng) };
        return SequenceRules.IsComparable(test) ? test : Next(maxGroups);
    }

    private bool ReadsUndefined(List<byte[]> group, ulong undefined)
    {
        foreach (var bytes in group)
        {
            var instruction = Decode(bytes);
            if ((FlagAnalysis.ToRflags(instruction.RflagsRead) & undefined) != 0) return true;
            undefined = FlagAnalysis.Apply(instruction, undefined);
        }
        return false;
    }

    private Instruction Decode(byte[] bytes)
    {
        var decoder = Decoder.Create(_bitness, new ByteArrayCodeReader(bytes));
        decoder.IP = DiffMachine.CodeStart(_bitness);
        decoder.Decode(out var instruction);
        return instruction;
    }

    private List<byte[]>? NextGroup()
    {
        int roll = _rng.Below(100);
        if (roll < 7) return StringGroup();
        if (roll < 10) return FlagsGroup();
        if (roll < 12) return FaultGroup();
        if (roll < 14) return FrameGroup();
        if (_bitness != 64 && roll < 20) return SegmentGroup();
        if (_bitness == 64 && roll < 40) return roll < 16 ? (_rng.Chance(50) ? MxcsrGroup() : MaskedStoreGroup()) : TableGroup(s_sseCodes);
        if (_bitness == 64 && roll < 55) return TableGroup(s_x87Codes);
        return TableGroup(s_codes[_bitness]);
    }

    // ---- table instructions ----

    private static Code[] Candidates(int bitness)
    {
        var codes = new List<Code>();
        foreach (Code code in Enum.GetValues<Code>())
        {
            var op = code.ToOpCode();
            if (!op.IsInstruction || op.Encoding != EncodingKind.Legacy || !s_mnemonics.Contains(op.Mnemonic)) continue;
            if (bitness switch { 64 => !op.Mode64, 32 => !op.Mode32, _ => !op.Mode16 }) continue;
            // kvm_pvm runs 32- and 16-bit user code through KVM's instruction emulator, which decodes LZCNT as BSR and
            // raises #UD for MOVBE and POPCNT: there is no hardware to compare these against outside 64-bit mode.
            if (bitness != 64 && op.Mnemonic is Mnemonic.Lzcnt or Mnemonic.Movbe or Mnemonic.Popcnt) continue;
            if (op.AddressSize != 0) continue;
            // BSWAP r16 and MOVSXD r16 have undefined results; SHLD/SHRD r16 by CL may shift past 16 (undefined).
            if (op.Mnemonic is Mnemonic.Bswap or Mnemonic.Movsxd && op.OperandSize == 16) continue;
            if (op.Mnemonic is Mnemonic.Shld or Mnemonic.Shrd && op.OperandSize == 16 && op.GetOpKind(2) == OpCodeOperandKind.cl) continue;
            bool supported = true;
            for (int i = 0; i < op.OpCount; i++)
                supported &= OperandSize(op.GetOpKind(i)) is not null;
            if (supported) codes.Add(code);
        }
        return [.. codes];
    }

    private static Code[] SseCandidates()
    {
        var codes = new List<Code>();
        foreach (Code code in Enum.GetValues<Code>())
        {
            var op = code.ToOpCode();
            if (!op.IsInstruction || op.Encoding != EncodingKind.Legacy || !op.Mode64 || op.AddressSize != 0) continue;
            var features = code.CpuidFeatures();
            if (features.Length == 0 || !features.All(s_generatedSimdFeatures.Contains)) continue;
            if (op.Mnemonic is Mnemonic.Rcpps or Mnemonic.Rcpss or Mnemonic.Rsqrtps or Mnemonic.Rsqrtss or Mnemonic.Maskmovdqu
                or Mnemonic.Ldmxcsr or Mnemonic.Maskmovq) continue;
            bool supported = true;
            for (int i = 0; i < op.OpCount; i++)
                supported &= OperandSize(op.GetOpKind(i)) is not null;
            if (supported) codes.Add(code);
        }
        return [.. codes];
    }

    private static Code[] X87Candidates()
    {
        var codes = new List<Code>();
        foreach (Code code in Enum.GetValues<Code>())
        {
            var op = code.ToOpCode();
            if (!op.IsInstruction || op.Encoding != EncodingKind.Legacy || !op.Mode64 || op.AddressSize != 0) continue;
            var features = code.CpuidFeatures();
            if (!features.Contains(CpuidFeature.FPU) && !features.Contains(CpuidFeature.FPU287)) continue;
            if (features.Any(f => f is not (CpuidFeature.FPU or CpuidFeature.FPU287 or CpuidFeature.CMOV or CpuidFeature.SSE3))) continue;
            if (op.Mnemonic is Mnemonic.Fsin or Mnemonic.Fcos or Mnemonic.Fsincos or Mnemonic.Fptan or Mnemonic.Fpatan
                or Mnemonic.F2xm1 or Mnemonic.Fyl2x or Mnemonic.Fyl2xp1 or Mnemonic.Fnsave or Mnemonic.Fsave or Mnemonic.Frstor
                or Mnemonic.Fnstenv or Mnemonic.Fstenv or Mnemonic.Fldenv or Mnemonic.Fbld or Mnemonic.Fbstp)
                continue;
            bool supported = true;
            for (int i = 0; i < op.OpCount; i++)
                supported &= op.GetOpKind(i) is OpCodeOperandKind.st0 or OpCodeOperandKind.sti_opcode || OperandSize(op.GetOpKind(i)) is not null;
            if (supported) codes.Add(code);
        }
        return [.. codes];
    }

    /// <summary>Bytes of a register or memory operand of this kind; 0 for immediates and bare memory; null if unsupported.</summary>
    private static int? OperandSize(OpCodeOperandKind kind) => kind switch
    {
        OpCodeOperandKind.r8_or_mem or OpCodeOperandKind.r8_reg or OpCodeOperandKind.r8_opcode or OpCodeOperandKind.al or OpCodeOperandKind.cl => 1,
        OpCodeOperandKind.r16_or_mem or OpCodeOperandKind.r16_reg or OpCodeOperandKind.r16_opcode or OpCodeOperandKind.r16_rm or OpCodeOperandKind.ax => 2,
        OpCodeOperandKind.r32_or_mem or OpCodeOperandKind.r32_reg or OpCodeOperandKind.r32_opcode or OpCodeOperandKind.r32_rm or OpCodeOperandKind.eax => 4,
        OpCodeOperandKind.r64_or_mem or OpCodeOperandKind.r64_reg or OpCodeOperandKind.r64_opcode or OpCodeOperandKind.r64_rm or OpCodeOperandKind.rax => 8,
        OpCodeOperandKind.xmm_or_mem or OpCodeOperandKind.xmm_reg or OpCodeOperandKind.xmm_rm => 16,
        OpCodeOperandKind.mm_or_mem or OpCodeOperandKind.mm_reg or OpCodeOperandKind.mm_rm => 8,
        OpCodeOperandKind.mem or OpCodeOperandKind.imm8 or OpCodeOperandKind.imm8_const_1 or OpCodeOperandKind.imm8sex16 or OpCodeOperandKind.imm8sex32
            or OpCodeOperandKind.imm8sex64 or OpCodeOperandKind.imm16 or OpCodeOperandKind.imm32 or OpCodeOperandKind.imm32sex64 or OpCodeOperandKind.imm64 => 0,
        _ => null,
    };

    private abstract record Operand;
    private sealed record RegisterOperand(Register Register) : Operand;
    private sealed record MemOperand(MemoryOperand Memory) : Operand;
    private sealed record ImmediateOperand(long Value) : Operand;

    /// <summary>Instructions the operands of the instruction being built need first (set by <see cref="DataOperand"/>).</summary>
    private readonly List<byte[]> _operandSetup = [];

    private List<byte[]>? TableGroup(Code[] table)
    {
        _operandSetup.Clear();
        var code = _rng.Pick(table);
        var op = code.ToOpCode();
        var operands = new Operand[op.OpCount];
        int memorySize = op.Mnemonic is Mnemonic.Cmpxchg16b ? 16 : 8;
        for (int i = 0; i < op.OpCount; i++)
        {
            var kind = op.GetOpKind(i);
            int size = kind is OpCodeOperandKind.st0 or OpCodeOperandKind.sti_opcode ? 10 : OperandSize(kind)!.Value;
            operands[i] = kind switch
            {
                OpCodeOperandKind.al => new RegisterOperand(Register.AL),
                OpCodeOperandKind.cl => new RegisterOperand(Register.CL),
                OpCodeOperandKind.ax => new RegisterOperand(Register.AX),
                OpCodeOperandKind.eax => new RegisterOperand(Register.EAX),
                OpCodeOperandKind.rax => new RegisterOperand(Register.RAX),
                OpCodeOperandKind.imm8_const_1 => new ImmediateOperand(1),
                OpCodeOperandKind.imm8 => new ImmediateOperand(Immediate8(op.Mnemonic, op.OperandSize)),
                OpCodeOperandKind.imm8sex16 or OpCodeOperandKind.imm8sex32 or OpCodeOperandKind.imm8sex64 => new ImmediateOperand((sbyte)_rng.Interesting()),
                OpCodeOperandKind.imm16 => new ImmediateOperand((ushort)_rng.Interesting()),
                OpCodeOperandKind.imm32 or OpCodeOperandKind.imm32sex64 => new ImmediateOperand((int)_rng.Interesting()),
                OpCodeOperandKind.imm64 => new ImmediateOperand((long)_rng.Interesting()),
                OpCodeOperandKind.mem when op.Mnemonic == Mnemonic.Lea => new MemOperand(RandomAddress()),
                OpCodeOperandKind.mem when s_sseCodes.Contains(code) || s_x87Codes.Contains(code) => new MemOperand(DataOperand(16)),
                OpCodeOperandKind.mem => new MemOperand(DataOperand(op.Mnemonic is Mnemonic.Cmpxchg16b or Mnemonic.Cmpxchg8b ? memorySize : Math.Max(1, op.OperandSize / 8))),
                OpCodeOperandKind.xmm_reg or OpCodeOperandKind.xmm_rm => new RegisterOperand(Register.XMM0 + _rng.Below(16)),
                OpCodeOperandKind.xmm_or_mem when _rng.Chance(65) => new RegisterOperand(Register.XMM0 + _rng.Below(16)),
                OpCodeOperandKind.mm_reg or OpCodeOperandKind.mm_rm => new RegisterOperand(Register.MM0 + _rng.Below(8)),
                OpCodeOperandKind.st0 => new RegisterOperand(Register.ST0),
                OpCodeOperandKind.sti_opcode => new RegisterOperand(Register.ST0 + _rng.Below(8)),
                OpCodeOperandKind.mm_or_mem when _rng.Chance(65) => new RegisterOperand(Register.MM0 + _rng.Below(8)),
                _ when kind.ToString().EndsWith("_or_mem") && _rng.Chance(35) => new MemOperand(DataOperand(size)),
                _ => new RegisterOperand(RandomRegister(size)),
            };
        }
        Instruction instruction;
        try
        {
            instruction = Create(code, operands);
        }
        catch (ArgumentException)
        {
            return null;
        }
        if (op.CanUseLockPrefix && operands.Length > 0 && (operands[0] is MemOperand ? _rng.Chance(25) : _rng.Chance(1)))
            instruction.HasLockPrefix = true; // with a register destination: #UD on purpose
        var main = Encode(instruction);
        // Iced encodes some codes outside their mode into other instructions; keep only what decodes back to itself.
        if (main is null || Decode(main).Code != code) return null;

        var group = new List<byte[]>(_operandSetup);
        bool ok = op.Mnemonic switch
        {
            Mnemonic.Div or Mnemonic.Idiv => DivisionSetup(op, operands[0], group),
            Mnemonic.Bt or Mnemonic.Bts or Mnemonic.Btr or Mnemonic.Btc => BitOffsetSetup(operands, group),
            Mnemonic.Pcmpestri or Mnemonic.Pcmpestri64 or Mnemonic.Pcmpestrm or Mnemonic.Pcmpestrm64 => StringLengthSetup(operands, group),
            _ => ShiftCountSetup(op, group),
        };
        if (!ok) return null;
        group.Add(main);
        return group;
    }

    private long Immediate8(Mnemonic mnemonic, int operandSize)
    {
        // Every bit of the string compares' control byte selects behaviour: draw all 256 evenly.
        if (mnemonic is Mnemonic.Pcmpestri or Mnemonic.Pcmpestri64 or Mnemonic.Pcmpestrm or Mnemonic.Pcmpestrm64
            or Mnemonic.Pcmpistri or Mnemonic.Pcmpistrm)
            return _rng.Below(256);
        if (mnemonic is Mnemonic.Shld or Mnemonic.Shrd && operandSize == 16)
            return _rng.Below(17);
        if (mnemonic is Mnemonic.Shl or Mnemonic.Sal or Mnemonic.Shr or Mnemonic.Sar or Mnemonic.Rol or Mnemonic.Ror or Mnemonic.Rcl or Mnemonic.Rcr or Mnemonic.Shld or Mnemonic.Shrd)
            return _rng.Chance(70) ? _rng.Pick(s_shiftCounts) : _rng.Below(256);
        return (byte)_rng.Interesting();
    }

    private static Instruction Create(Code code, Operand[] o) => o switch
    {
        [] => Instruction.Create(code),
        [RegisterOperand a] => Instruction.Create(code, a.Register),
        [MemOperand a] => Instruction.Create(code, a.Memory),
        [ImmediateOperand a] => Instruction.Create(code, (int)a.Value),
        [RegisterOperand a, RegisterOperand b] => Instruction.Create(code, a.Register, b.Register),
        [RegisterOperand a, MemOperand b] => Instruction.Create(code, a.Register, b.Memory),
        [MemOperand a, RegisterOperand b] => Instruction.Create(code, a.Memory, b.Register),
        [RegisterOperand a, ImmediateOperand b] when code.ToOpCode().GetOpKind(1) == OpCodeOperandKind.imm64 => Instruction.Create(code, a.Register, (ulong)b.Value),
        [RegisterOperand a, ImmediateOperand b] => Instruction.Create(code, a.Register, (int)b.Value),
        [MemOperand a, ImmediateOperand b] => Instruction.Create(code, a.Memory, (int)b.Value),
        [RegisterOperand a, RegisterOperand b, ImmediateOperand c] => Instruction.Create(code, a.Register, b.Register, (int)c.Value),
        [RegisterOperand a, MemOperand b, ImmediateOperand c] => Instruction.Create(code, a.Register, b.Memory, (int)c.Value),
        [MemOperand a, RegisterOperand b, ImmediateOperand c] => Instruction.Create(code, a.Memory, b.Register, (int)c.Value),
        [RegisterOperand a, RegisterOperand b, RegisterOperand c] => Instruction.Create(code, a.Register, b.Register, c.Register),
        [MemOperand a, RegisterOperand b, RegisterOperand c] => Instruction.Create(code, a.Memory, b.Register, c.Register),
        _ => throw new ArgumentException($"No operand shape for {code}."),
    };

    /// <summary>Divisor non-zero (and not -1 for IDIV), dividend's upper half small enough for the quotient to fit; sometimes left random on purpose.</summary>
    private bool DivisionSetup(OpCodeInfo op, Operand divisor, List<byte[]> group)
    {
        if (_rng.Chance(8)) return true;
        int size = Math.Max(1, op.OperandSize / 8);
        if (op.OperandSize == 0) size = 1;
        ulong mask = size == 8 ? ulong.MaxValue : (1UL << (size * 8)) - 1;
        ulong value;
        do value = _rng.Interesting() & mask;
        while (value == 0 || (op.Mnemonic == Mnemonic.Idiv && value == mask));
        if (_rng.Chance(3)) value = 0; // #DE on purpose
        if (divisor is RegisterOperand r)
        {
            var full = r.Register.GetFullRegister();
            int index = full - Register.RAX;
            bool highByte = r.Register is >= Register.AH and <= Register.BH;
            if (index is 0 or 2) return false; // the divisor would be overwritten by the dividend setup
            ulong placed = highByte ? value << 8 : value;
            group.Add(Encode(_bitness == 64
                ? Instruction.Create(Code.Mov_r64_imm64, full, placed)
                : Instruction.Create(Code.Mov_r32_imm32, full.GetFullRegister32(), (uint)placed))!);
        }
        else if (divisor is MemOperand m)
        {
            var store = size == 8 ? Instruction.Create(Code.Mov_rm64_imm32, m.Memory, (int)value) : Instruction.Create(Code.Mov_rm32_imm32, m.Memory, (int)value);
            if (size == 8 && value != (ulong)(long)(int)value) return false;
            group.Add(Encode(store)!);
        }
        bool signed = op.Mnemonic == Mnemonic.Idiv;
        group.Add(Encode((size, signed) switch
        {
            (1, false) => Instruction.Create(Code.Movzx_r32_rm8, Register.EAX, Register.AL),
            (_, false) => Instruction.Create(Code.Xor_r32_rm32, Register.EDX, Register.EDX),
            (1, true) => Instruction.Create(Code.Cbw),
            (2, true) => Instruction.Create(Code.Cwd),
            (4, true) => Instruction.Create(Code.Cdq),
            _ => Instruction.Create(Code.Cqo),
        })!);
        return true;
    }

    /// <summary>BT* with a memory operand and a register offset addresses far beyond the operand; keep the bit inside the data page.</summary>
    private bool BitOffsetSetup(Operand[] operands, List<byte[]> group)
    {
        if (operands is not [MemOperand m, RegisterOperand r]) return true;
        if (_rng.Chance(5)) return true;
        long displacement = (long)m.Memory.Displacement - (m.Memory.Base == Register.None ? (long)_data : 0);
        long bit = -displacement * 8 + _rng.Below((int)(0xF00 * 8));
        var full = r.Register.GetFullRegister();
        group.Add(Encode(_bitness == 64
            ? Instruction.Create(Code.Mov_rm64_imm32, full, (int)bit)
            : Instruction.Create(Code.Mov_r32_imm32, full.GetFullRegister32(), (uint)bit))!);
        return true;
    }

    /// <summary>
    /// PCMPESTRx take their lengths from RAX and RDX: mostly put them near the element counts (either sign), where the
    /// saturation and the invalid-element rules act, rather than leave the random values that almost always saturate.
    /// </summary>
    private bool StringLengthSetup(Operand[] operands, List<byte[]> group)
    {
        if (operands[1] is MemOperand m && (m.Memory.Base is Register.RAX or Register.RDX || m.Memory.Index is Register.RAX or Register.RDX)) return true;
        if (!_rng.Chance(75)) return true;
        foreach (Register length in (Register[])[Register.RAX, Register.RDX])
        {
            long value = _rng.Chance(85) ? _rng.Below(41) - 20 : (long)_rng.Interesting();
            group.Add(Encode(Instruction.Create(Code.Mov_r64_imm64, length, (ulong)value))!);
        }
        return true;
    }

    private bool ShiftCountSetup(OpCodeInfo op, List<byte[]> group)
    {
        if (op.OpCount < 2 || op.GetOpKind(op.OpCount - 1) != OpCodeOperandKind.cl || !_rng.Chance(65)) return true;
        int count = _rng.Chance(80) ? _rng.Pick(s_shiftCounts) : _rng.Below(256);
        group.Add(Encode(Instruction.Create(Code.Mov_r8_imm8, Register.CL, count))!);
        return true;
    }

    // ---- operands ----

    private Register RandomRegister(int size)
    {
        int index;
        do index = _rng.Below(_bitness == 64 ? 16 : 8);
        while (index == 4 || index == 15);
        return size switch
        {
            1 when index < 4 && _rng.Chance(30) => Register.AH + index,
            1 when index < 4 => Register.AL + index,
            1 when _bitness != 64 => Register.AL + (index & 3),
            1 when index < 8 => Register.SPL + (index - 4),
            1 => Register.R8L + (index - 8),
            2 => Register.AX + index,
            4 => Register.EAX + index,
            _ => Register.RAX + index,
        };
    }

    /// <summary>A memory operand inside the data page, aligned to its size more often than not.</summary>
    private MemoryOperand DataOperand(int size)
    {
        int offset = _rng.Below(0x1000 - 16);
        if (_rng.Chance(70)) offset &= ~(size - 1);
        if (_bitness == 16)
            return Data16Operand(offset);
        if (_rng.Chance(4))
        {
            // Read-only user memory: a read succeeds, anything that writes (or, like CMPXCHG, always claims the line for writing) must fault with error 7.
            return new MemoryOperand(Register.None, (long)DiffMachine.CodeAddress + 0x1000 + offset);
        }
        if (_bitness == 64 && _rng.Chance(10))
        {
            // 32-bit addressing in 64-bit mode (67 prefix): the base register's upper half is garbage the CPU must ignore.
            var base64 = RandomRegister(8);
            int split = _rng.Below(0x800);
            _operandSetup.Add(Encode(Instruction.Create(Code.Mov_r64_imm64, base64,
                (_rng.Next() & 0xFFFF_FFFF_0000_0000) | (DiffMachine.DataAddress + (ulong)offset - (ulong)split)))!);
            return new MemoryOperand(base64.GetFullRegister32() == Register.None ? Register.EAX : Register.EAX + (base64 - Register.RAX), split);
        }
        if (_bitness == 64 && _rng.Chance(70))
            return new MemoryOperand(Register.R15, offset);
        return new MemoryOperand(Register.None, (long)DiffMachine.DataAddress + offset);
    }

    /// <summary>
    /// A data-page operand in 16-bit code: mostly a 16-bit displacement, sometimes [BX+SI+disp] and the like with the
    /// registers set up first, sometimes a 32-bit (67-prefixed) address; now and then one past DS's 64 KiB limit (#GP(0)).
    /// </summary>
    private MemoryOperand Data16Operand(int offset)
    {
        int roll = _rng.Below(100);
        if (roll < 3)
            return new MemoryOperand(Register.None, Register.None, 1, 0x1_0000 + offset, 4);
        if (roll < 25)
        {
            // One of the four base+index pairs (never BP, whose segment is SS, also based at the data page).
            var (baseRegister, index) = _rng.Below(4) switch
            {
                0 => (Register.BX, Register.SI),
                1 => (Register.BX, Register.DI),
                2 => (Register.BP, Register.SI),
                _ => (Register.BP, Register.DI),
            };
            int split = _rng.Below(0x400);
            // Half the time the sum passes 0xFFFF: a 16-bit effective address wraps to the data page.
            int baseValue = _rng.Chance(50) ? 0x8000 + _rng.Below(0x8000) : _rng.Below(Math.Max(1, offset - split + 1));
            _operandSetup.Add(Encode(Instruction.Create(Code.Mov_r32_imm32, baseRegister.GetFullRegister32(), (uint)baseValue))!);
            _operandSetup.Add(Encode(Instruction.Create(Code.Mov_r32_imm32, index.GetFullRegister32(), (uint)((offset - split - baseValue) & 0xFFFF)))!);
            return new MemoryOperand(baseRegister, index, 1, split, 2);
        }
        if (roll < 35)
        {
            // 32-bit addressing in 16-bit code: the full base register counts, not just its low half.
            var base32 = RandomRegister(4);
            int split = _rng.Below(offset + 1);
            _operandSetup.Add(Encode(Instruction.Create(Code.Mov_r32_imm32, base32, (uint)(offset - split)))!);
            return new MemoryOperand(base32, split, 4);
        }
        return new MemoryOperand(Register.None, Register.None, 1, offset, 2);
    }

    /// <summary>Any addressing form, for LEA, which computes but never accesses.</summary>
    private MemoryOperand RandomAddress()
    {
        if (_bitness == 16 && _rng.Chance(60))
        {
            Register[] bases = [Register.BX, Register.BP, Register.None];
            Register[] indexes = [Register.SI, Register.DI, Register.None];
            var b16 = _rng.Pick(bases);
            var i16 = _rng.Pick(indexes);
            long disp16 = _rng.Chance(30) ? 0 : (ushort)_rng.Interesting();
            if (b16 == Register.None && i16 == Register.None) return new MemoryOperand(Register.None, Register.None, 1, disp16, 2);
            return new MemoryOperand(b16, i16, 1, disp16, disp16 == 0 ? 0 : 2);
        }
        bool narrow = _bitness != 64 || _rng.Chance(20);
        Register first = narrow ? Register.EAX : Register.RAX;
        int count = _bitness == 64 ? 16 : 8;
        Register baseRegister = _rng.Chance(85) ? first + _rng.Below(count) : Register.None;
        Register index = Register.None;
        if (_rng.Chance(60))
        {
            int i;
            do i = _rng.Below(count); while (i == 4);
            index = first + i;
        }
        int scale = 1 << _rng.Below(4);
        long displacement = _rng.Chance(30) ? 0 : (int)_rng.Interesting();
        if (narrow) displacement = (uint)displacement;
        return new MemoryOperand(baseRegister, index, scale, displacement, displacement == 0 ? 0 : 4);
    }

    // ---- special groups ----

    private List<byte[]> StringGroup()
    {
        int op = _rng.Below(5); // movs, cmps, stos, lods, scas
        int size = 1 << _rng.Below(_bitness == 64 ? 4 : 3);
        // 64-bit mode with an address-size prefix walks ESI/EDI/ECX only; garbage above bit 31 must be ignored, and is cleared when written.
        bool narrowAddresses = _bitness == 64 && _rng.Chance(20);
        ulong garbage = narrowAddresses ? _rng.Next() & 0xFFFF_FFFF_0000_0000 : 0;
        byte[] Pointer(Register register32) => garbage == 0
            ? Encode(Instruction.Create(Code.Mov_r32_imm32, register32, (uint)(_data + 0x200 + (ulong)_rng.Below(0xC00))))!
            : Encode(Instruction.Create(Code.Mov_r64_imm64, register32.GetFullRegister(), garbage | (DiffMachine.DataAddress + 0x200 + (ulong)_rng.Below(0xC00))))!;
        var group = new List<byte[]> { Pointer(Register.ESI), Pointer(Register.EDI) };
        var bytes = new List<byte>();
        if (narrowAddresses) bytes.Add(0x67);
        int repeat = _rng.Below(3);
        if (repeat > 0)
        {
            group.Add(garbage == 0
                ? Encode(Instruction.Create(Code.Mov_r32_imm32, Register.ECX, (uint)_rng.Below(9)))!
                : Encode(Instruction.Create(Code.Mov_r64_imm64, Register.RCX, garbage | (uint)_rng.Below(9)))!);
            bool compares = op is 1 or 4;
            bytes.Add(compares && repeat == 2 ? (byte)0xF2 : (byte)0xF3);
        }
        if ((size == 2 && _bitness != 16) || (size == 4 && _bitness == 16)) bytes.Add(0x66);
        if (size == 8) bytes.Add(0x48);
        byte[] opcodes = [0xA4, 0xA6, 0xAA, 0xAC, 0xAE];
        bytes.Add((byte)(opcodes[op] + (size == 1 ? 0 : 1)));
        group.Add([.. bytes]);
        return group;
    }

    /// <summary>
    /// A segment-register load (MOV or POP) of a selector, then now and then an access through that register or a read
    /// of the selector. In real mode the base becomes selector × 16; in protected and compatibility
    /// modes the selectors name the GDT's descriptors (null, the kernel's, user code and data of every width, TSSs),
    /// one past the GDT's limit and one in the unusable LDT, with any RPL: each load raises what the checks call for.
    /// </summary>
    private List<byte[]> SegmentGroup()
    {
        // In real mode, segments based at 0x11000 and up: lower ones would let the sequence rewrite the vector table and
        // handlers, and the next exception would run whatever it wrote (which can loop for ever without an exit).
        ushort selector = _mode == GuestMode.Real16
            ? _rng.Below(4) switch { 0 => (ushort)0x1100, 1 => (ushort)0x4000, 2 => (ushort)0xFFFF, _ => (ushort)(0x1100 + _rng.Below(0xEF00)) }
            : _rng.Chance(85)
                ? (ushort)(_rng.Pick(_mode is GuestMode.Compat32 or GuestMode.Compat16 ? s_compatibilitySelectors : s_descriptorSelectors) | _rng.Below(4))
                : (ushort)_rng.Next();
        Register[] targets = [Register.ES, Register.DS, Register.FS, Register.GS, Register.SS];
        Register target = _rng.Chance(15) ? Register.SS : targets[_rng.Below(4)];
        // KVM's emulator, which runs these modes here, makes ENTER push a frame pointer of the stack's width where the
        // processor pushes one of the operand size (the 80386 manual's pseudo-code; Bochs and QEMU agree; Soft follows
        // it): seen as ENTER in 32-bit code pushing 2 bytes after SS was loaded with a 16-bit stack segment. So SS only
        // gets a stack of the code's own width here, or a selector whose load faults.
        if (target == Register.SS && _mode != GuestMode.Real16 && (selector & ~3) is 0x20 or 0x58)
            selector = (ushort)((_bitness == 16 ? 0x58 : 0x20) | (selector & 3));
        var group = new List<byte[]> { Encode(Instruction.Create(Code.Mov_r32_imm32, Register.EAX, selector))! };
        if (_rng.Chance(70))
            group.Add(Encode(Instruction.Create(Code.Mov_Sreg_rm16, target, Register.AX))!);
        else
        {
            bool wide = _bitness == 32;
            group.Add(Encode(Instruction.Create(wide ? Code.Push_r32 : Code.Push_r16, wide ? Register.EAX : Register.AX))!);
            group.Add(Encode(Instruction.Create(PopCode(target, wide), target))!);
        }
        int roll = _rng.Below(100);
        if (roll < 50)
        {
            // In real mode the whole 64 KiB segment; elsewhere mostly the data page (bases 0 and the data page both reach it).
            long offset = _mode == GuestMode.Real16 ? _rng.Below(0x10000)
                : _rng.Chance(50) ? (long)DiffMachine.DataAddress + _rng.Below(0x1000) : _rng.Below(0x1000);
            if (_bitness == 16) offset &= 0xFFFF;
            var memory = new MemoryOperand(Register.None, Register.None, 1, offset, _bitness == 16 ? 2 : 4, false, target);
            group.Add(Encode(_rng.Chance(50)
                ? Instruction.Create(Code.Mov_r16_rm16, Register.BX, memory)
                : Instruction.Create(Code.Mov_rm16_r16, memory, Register.BX))!);
        }
        else if (roll < 70)
        {
            group.Add(Encode(Instruction.Create(Code.Mov_r32m16_Sreg, Register.ECX, target))!);
        }
        return group;
    }

    private static readonly ushort[] s_descriptorSelectors = [0x00, 0x08, 0x10, 0x18, 0x20, 0x28, 0x30, 0x40, 0x48, 0x50, 0x58, 0x60, 0x1C, 0xFFF8];

    /// <summary>
    /// In compatibility mode, without the code segments: a write through a data register loaded with a readable code
    /// segment must raise #GP(0) (the SDM; Soft does), but kvm_pvm lets it reach paging (seen: RCL byte [DS:0x3b1] with DS
    /// = 0x28, a DPL-3 code segment, gave #PF error 7 at 0x3b1), so Host cannot judge it there.
    /// </summary>
    private static readonly ushort[] s_compatibilitySelectors = [0x00, 0x10, 0x20, 0x30, 0x48, 0x58, 0x60, 0x1C, 0xFFF8];

    private static Code PopCode(Register segment, bool wide) => segment switch
    {
        Register.ES => wide ? Code.Popd_ES : Code.Popw_ES,
        Register.SS => wide ? Code.Popd_SS : Code.Popw_SS,
        Register.DS => wide ? Code.Popd_DS : Code.Popw_DS,
        Register.FS => wide ? Code.Popd_FS : Code.Popw_FS,
        _ => wide ? Code.Popd_GS : Code.Popw_GS,
    };

    /// <summary>MASKMOVDQU or MASKMOVQ, whose destination is DS:RDI: RDI is pointed into the data page first (or, now and then, at the read-only code page).</summary>
    private List<byte[]> MaskedStoreGroup()
    {
        ulong target = _rng.Chance(5) ? DiffMachine.CodeAddress + 0x1000 + (ulong)_rng.Below(0x1000) : DiffMachine.DataAddress + (ulong)_rng.Below(0x1000 - 16);
        var store = _rng.Chance(60)
            ? Instruction.CreateMaskmovdqu(64, Register.XMM0 + _rng.Below(16), Register.XMM0 + _rng.Below(16))
            : Instruction.CreateMaskmovq(64, Register.MM0 + _rng.Below(8), Register.MM0 + _rng.Below(8));
        return [Encode(Instruction.Create(Code.Mov_r64_imm64, Register.RDI, target))!, Encode(store)!];
    }

    /// <summary>LDMXCSR of a value stored just before: usually a valid one (rounding, DAZ/FTZ, masks, flags), sometimes one with reserved bits (#GP(0)).</summary>
    private List<byte[]> MxcsrGroup()
    {
        // A random value is mostly reserved bits (#GP(0) on both kernels), except bit 17: the EPYC's MXCSR_MASK is
        // 0x2FFFF, bit 17 being AMD's misaligned-SSE mode (CPUID 0x80000001 ECX bit 7), which Soft's CPU model does not
        // offer (MXCSR_MASK 0xFFFF), so LDMXCSR of 0x25034 loads on the EPYC and is #GP(0) on Soft. The two processors
        // are allowed to differ there; the bit is kept clear.
        uint value = _rng.Chance(5) ? (uint)_rng.Next() & ~0x20000u : SseValues.Mxcsr(_rng);
        int offset = _rng.Below(0x1000 - 4) & ~3;
        var slot = new MemoryOperand(Register.R15, offset);
        return
        [
            Encode(Instruction.Create(Code.Mov_rm32_imm32, slot, (int)value))!,
            Encode(Instruction.Create(Code.Ldmxcsr_m32, slot))!,
        ];
    }

    private List<byte[]> FlagsGroup()
    {
        if (_rng.Chance(50)) return [[0x9C], SequenceRules.PushfImageMask(_bitness)];
        ulong flags = 0x3002 | (_rng.Next() & FlagAnalysis.ArithmeticFlags) | (_rng.Chance(20) ? 0x400UL : 0);
        if (_rng.Chance(3)) flags |= 0x100; // TF: a #DB after the next instruction
        // AC: with CR0.AM at CPL 3, misaligned accesses raise #AC (not in 32-bit modes, see SequenceRules.IsComparable).
        if (_rng.Chance(2) && _bitness == 64) flags |= 0x4_0000;
        var push = _bitness switch
        {
            64 => Instruction.Create(Code.Pushq_imm32, (int)flags),
            32 => Instruction.Create(Code.Pushd_imm32, (int)flags),
            _ => Instruction.Create(Code.Push_imm16, (int)flags),
        };
        return [Encode(push)!, [0x9D]];
    }

    private List<byte[]> FaultGroup()
    {
        if (_bitness == 16) return Fault16Group();
        int offset = _rng.Below(0x1000) & ~3;
        switch (_rng.Below(9))
        {
            case 7:
                // A push through a stack pointer that is non-canonical (#SS(0)) or in the read-only code page (#PF, error 7).
                ulong stack = _bitness == 64 && _rng.Chance(50) ? 0x8000_0000_0000_0000UL + (uint)offset : DiffMachine.CodeAddress + 0x1000 + (uint)offset;
                return
                [
                    Encode(_bitness == 64 ? Instruction.Create(Code.Mov_r64_imm64, Register.RSP, stack) : Instruction.Create(Code.Mov_r32_imm32, Register.ESP, (uint)stack))!,
                    Encode(Instruction.Create(_bitness == 64 ? Code.Push_r64 : Code.Push_r32, _bitness == 64 ? Register.RAX : Register.EAX))!,
                ];
            case 6 when _rng.Chance(50):
                // A store that starts on the last mapped bytes and crosses into the unmapped page.
                return [Encode(Instruction.Create(Code.Mov_rm32_r32, new MemoryOperand(Register.None, (long)DiffMachine.UnmappedAddress - 1 - _rng.Below(3)), Register.EBX))!];
            case 8 when _bitness == 64:
                // A non-canonical address through RBP addresses the stack segment: #SS(0), not #GP.
                return
                [
                    Encode(Instruction.Create(Code.Mov_r64_imm64, Register.RBP, 0xFFFF_0000_0000_0000UL + (uint)offset))!,
                    Encode(Instruction.Create(Code.Mov_r32_rm32, Register.EAX, new MemoryOperand(Register.RBP, 8)))!,
                ];
            case 0:
                return [[0x0F, 0x0B]]; // ud2
            case 1:
                return [Encode(Instruction.Create(Code.Mov_r32_rm32, Register.EAX, new MemoryOperand(Register.None, (long)DiffMachine.UnmappedAddress + offset)))!];
            case 2:
                return [Encode(Instruction.Create(Code.Mov_rm32_r32, new MemoryOperand(Register.None, (long)DiffMachine.CodeAddress + offset), Register.EBX))!];
            case 3:
                return [Encode(Instruction.Create(Code.Mov_r32_rm32, Register.ECX, new MemoryOperand(Register.None, (long)DiffMachine.SupervisorAddress + offset)))!];
            case 4 when _bitness == 64:
                return
                [
                    Encode(Instruction.Create(Code.Mov_r64_imm64, Register.RSI, 0x8000_0000_0000_0000UL + (uint)offset))!,
                    Encode(Instruction.Create(Code.Mov_rm32_r32, new MemoryOperand(Register.RSI), Register.EDX))!,
                ];
            case 5:
                return [[0xF4]]; // hlt at CPL 3: #GP(0)
            default:
                return [[0x0F, 0x20, 0xC0]]; // mov eax/rax, cr0 at CPL 3: #GP(0)
        }
    }

    /// <summary>
    /// Faults of 16-bit code, where segment limits rather than pages draw the lines: DS's and SS's 64 KiB limits,
    /// the code segment that cannot be written, and the privileged instructions.
    /// </summary>
    private List<byte[]> Fault16Group()
    {
        int offset = _rng.Below(0x1000) & ~3;
        switch (_rng.Below(7))
        {
            case 0:
                return [[0x0F, 0x0B]]; // ud2
            case 1:
                // A dword whose last bytes are past DS's limit: #GP(0).
                return [Encode(Instruction.Create(Code.Mov_rm32_r32, new MemoryOperand(Register.None, Register.None, 1, 0xFFFF - _rng.Below(3), 2), Register.EBX))!];
            case 2:
                // A store through CS, which is execute/read only: #GP(0).
                return [Encode(Instruction.Create(Code.Mov_rm16_r16, new MemoryOperand(Register.None, Register.None, 1, offset, 2, false, Register.CS), Register.BX))!];
            // Not in real mode: there the #SS's own frame does not fit either and the processor shuts down (as Soft
            // does), while KVM's emulator pushes the frame without a limit check and delivers the #SS.
            case 3 when _mode != GuestMode.Real16:
                // A push whose word straddles SS's limit (SP = 1 wraps to 0xFFFF): #SS(0).
                return
                [
                    Encode(Instruction.Create(Code.Mov_r32_imm32, Register.ESP, (uint)_rng.Below(2)))!,
                    Encode(_rng.Chance(50) ? Instruction.Create(Code.Push_r16, Register.AX) : Instruction.Create(Code.Push_r32, Register.EAX))!,
                ];
            case 4:
                // A 32-bit address through EBP past SS's limit: #SS(0).
                return
                [
                    Encode(Instruction.Create(Code.Mov_r32_imm32, Register.EBP, 0x1_0000u + (uint)offset))!,
                    Encode(Instruction.Create(Code.Mov_r16_rm16, Register.AX, new MemoryOperand(Register.EBP)))!,
                ];
            case 5:
                return [[0xF4]]; // hlt at CPL 3: #GP(0)
            default:
                return [[0x0F, 0x20, 0xC0]]; // mov eax, cr0 at CPL 3: #GP(0)
        }
    }

    /// <summary>XLAT through RBX, and ENTER (with nesting, which copies frame pointers) / LEAVE through RBP, both pointed into the data page.</summary>
    private List<byte[]> FrameGroup()
    {
        if (_rng.Chance(30))
            return
            [
                Encode(Instruction.Create(Code.Mov_r32_imm32, Register.EBX, (uint)(_data + (ulong)_rng.Below(0xF00))))!,
                [0xD7], // xlat
            ];
        var group = new List<byte[]>
        {
            Encode(Instruction.Create(Code.Mov_r32_imm32, Register.EBP, (uint)(_data + 0x100 + (ulong)_rng.Below(0xE00))))!,
            // KVM's emulator, which runs 32-bit user code under kvm_pvm, raises #UD for ENTER with a nesting level.
            new byte[] { 0xC8, (byte)_rng.Below(0x100), 0, (byte)(_bitness != 64 || _rng.Chance(50) ? 0 : _rng.Below(6)) }, // enter size, level
        };
        if (_rng.Chance(70)) group.Add([0xC9]); // leave
        return group;
    }

    private byte[] DefineFlags() =>
        Encode(Instruction.Create(Code.Cmp_rm32_imm32, RandomRegister(4), (int)_rng.Interesting()))!;

    private byte[]? Encode(Instruction instruction)
    {
        var writer = new ByteWriter();
        var encoder = Encoder.Create(_bitness, writer);
        return encoder.TryEncode(instruction, DiffMachine.CodeStart(_bitness), out _, out _) ? writer.ToArray() : null;
    }

    private sealed class ByteWriter : CodeWriter
    {
        private readonly List<byte> _bytes = [];
        public override void WriteByte(byte value) => _bytes.Add(value);
        public byte[] ToArray() => [.. _bytes];
    }
}
