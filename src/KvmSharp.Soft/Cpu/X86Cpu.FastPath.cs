using System.Runtime.CompilerServices;
using Iced.Intel;

namespace KvmSharp.Soft.Cpu;

/// <summary>Pre-decoded shapes of the most frequent instructions, so the hot loop skips Iced operand decoding.</summary>
internal enum FastKind : byte
{
    None,
    MovRegReg,
    MovRegImm,
    MovRegMem,
    MovMemReg,
    MovMemImm,
    AluRegReg,
    AluRegImm,
    AluRegMem,
    IncDec,
    Jcc,
    Jmp,
    PushReg,
    PopReg,
}

/// <summary>One pre-decoded instruction. Only 32/64-bit general registers qualify, so no partial-register merging is needed.</summary>
internal struct FastOp
{
    public FastKind Kind;
    /// <summary>The <see cref="AluOp"/> or the <see cref="ConditionCode"/>.</summary>
    public byte Operation;
    public byte Destination;
    public byte Source;
    public byte Size;
    /// <summary>Immediate (masked to the operand size) or branch displacement.</summary>
    public ulong Immediate;

    // Pre-decoded 64-bit-address-size memory operand (AddressKind != 0); other address sizes use the general decoder.
    public byte AddressKind;
    public byte MemoryBase;
    public byte MemoryIndex;
    public byte MemoryScaleShift;
    public byte MemorySegment;
    /// <summary>Displacement; for RIP-relative operands, relative to the next instruction.</summary>
    public ulong Displacement;

    public const byte AddressGeneral = 0, AddressRegisters = 1, AddressRipRelative = 2;
    public const byte NoRegister = 0xFF;
}

public sealed unsafe partial class X86Cpu
{
    private static FastOp[] BuildFastOps(Instruction[] instructions, int count)
    {
        var ops = new FastOp[count];
        for (int i = 0; i < count; i++)
        {
            ops[i] = Classify(ref instructions[i]);
            if (ops[i].Kind is FastKind.MovRegMem or FastKind.MovMemReg or FastKind.MovMemImm or FastKind.AluRegMem)
                DescribeAddress(ref instructions[i], ref ops[i]);
        }
        return ops;
    }

    private static bool IsWideGpr(Register register) => s_gprIndex[(int)register] >= 0 && s_gprSize[(int)register] >= 4;

    private static FastOp Classify(ref Instruction instruction)
    {
        var op = new FastOp();
        if (instruction.HasLockPrefix) return op;
        Mnemonic mnemonic = instruction.Mnemonic;
        OpKind kind0 = instruction.OpCount > 0 ? instruction.Op0Kind : OpKind.Register;
        OpKind kind1 = instruction.OpCount > 1 ? instruction.Op1Kind : OpKind.Register;
        bool reg0 = kind0 == OpKind.Register && instruction.OpCount > 0 && IsWideGpr(instruction.Op0Register);
        bool reg1 = kind1 == OpKind.Register && instruction.OpCount > 1 && IsWideGpr(instruction.Op1Register);
        bool imm1 = instruction.OpCount > 1 && kind1 is OpKind.Immediate8 or OpKind.Immediate16 or OpKind.Immediate32 or OpKind.Immediate64
            or OpKind.Immediate8to32 or OpKind.Immediate8to64 or OpKind.Immediate32to64;
        int size = reg0 ? s_gprSize[(int)instruction.Op0Register] : kind0 == OpKind.Memory ? instruction.MemorySize.GetSize() : 0;
        if (size != 4 && size != 8) size = 0;

        AluOp alu = mnemonic switch
        {
            Mnemonic.Add => AluOp.Add, Mnemonic.Or => AluOp.Or, Mnemonic.Adc => AluOp.Adc, Mnemonic.Sbb => AluOp.Sbb,
            Mnemonic.And => AluOp.And, Mnemonic.Sub => AluOp.Sub, Mnemonic.Xor => AluOp.Xor, Mnemonic.Cmp => AluOp.Cmp,
            Mnemonic.Test => AluOp.Test, Mnemonic.Inc => AluOp.Inc, Mnemonic.Dec => AluOp.Dec,
            _ => AluOp.Mov,
        };

        if (mnemonic == Mnemonic.Mov && size != 0)
        {
            if (reg0 && reg1) return Make(FastKind.MovRegReg, 0, instruction.Op0Register, instruction.Op1Register, size, 0);
            if (reg0 && imm1) return Make(FastKind.MovRegImm, 0, instruction.Op0Register, Register.None, size, instruction.GetImmediate(1) & SizeMask(size));
            if (reg0 && kind1 == OpKind.Memory) return Make(FastKind.MovRegMem, 0, instruction.Op0Register, Register.None, size, 0);
            if (kind0 == OpKind.Memory && reg1) return Make(FastKind.MovMemReg, 0, Register.None, instruction.Op1Register, size, 0);
            if (kind0 == OpKind.Memory && imm1) return Make(FastKind.MovMemImm, 0, Register.None, Register.None, size, instruction.GetImmediate(1) & SizeMask(size));
            return op;
        }
        if (alu is AluOp.Inc or AluOp.Dec && reg0 && instruction.OpCount == 1)
            return Make(FastKind.IncDec, (byte)alu, instruction.Op0Register, Register.None, size, 0);
        if (alu != AluOp.Mov && alu is not (AluOp.Inc or AluOp.Dec) && reg0 && size != 0)
        {
            if (reg1) return Make(FastKind.AluRegReg, (byte)alu, instruction.Op0Register, instruction.Op1Register, size, 0);
            if (imm1) return Make(FastKind.AluRegImm, (byte)alu, instruction.Op0Register, Register.None, size, instruction.GetImmediate(1) & SizeMask(size));
            if (kind1 == OpKind.Memory) return Make(FastKind.AluRegMem, (byte)alu, instruction.Op0Register, Register.None, size, 0);
        }
        if (kind0 == OpKind.NearBranch64)
        {
            ulong displacement = instruction.NearBranch64 - instruction.NextIP;
            if (mnemonic == Mnemonic.Jmp) return Make(FastKind.Jmp, 0, Register.None, Register.None, 8, displacement);
            ConditionCode condition = instruction.ConditionCode;
            if (instruction.IsJccShortOrNear && condition != ConditionCode.None)
                return Make(FastKind.Jcc, (byte)condition, Register.None, Register.None, 8, displacement);
        }
        if (mnemonic == Mnemonic.Push && reg0 && instruction.StackPointerIncrement == -8 && instruction.Op0Register != Register.RSP)
            return Make(FastKind.PushReg, 0, instruction.Op0Register, Register.None, 8, 0);
        if (mnemonic == Mnemonic.Pop && reg0 && instruction.StackPointerIncrement == 8 && instruction.Op0Register != Register.RSP)
            return Make(FastKind.PopReg, 0, instruction.Op0Register, Register.None, 8, 0);
        return op;

        static FastOp Make(FastKind kind, byte operation, Register destination, Register source, int size, ulong immediate) => new()
        {
            Kind = kind,
            Operation = operation,
            Destination = destination == Register.None ? (byte)0 : (byte)s_gprIndex[(int)destination],
            Source = source == Register.None ? (byte)0 : (byte)s_gprIndex[(int)source],
            Size = (byte)size,
            Immediate = immediate,
        };
    }

    /// <summary>Pre-decodes a memory operand when its address size is 64 bits (no wrap-around masking needed).</summary>
    private static void DescribeAddress(ref Instruction instruction, ref FastOp op)
    {
        Register baseRegister = instruction.MemoryBase;
        Register indexRegister = instruction.MemoryIndex;
        op.MemorySegment = (byte)(instruction.MemorySegment - Register.ES);
        if (baseRegister == Register.RIP)
        {
            if (indexRegister != Register.None) return;
            op.AddressKind = FastOp.AddressRipRelative;
            op.Displacement = instruction.MemoryDisplacement64 - instruction.NextIP;
            return;
        }
        bool base64 = baseRegister == Register.None || (s_gprIndex[(int)baseRegister] >= 0 && s_gprSize[(int)baseRegister] == 8);
        bool index64 = indexRegister == Register.None || (s_gprIndex[(int)indexRegister] >= 0 && s_gprSize[(int)indexRegister] == 8);
        if (!base64 || !index64) return;
        if (baseRegister == Register.None && indexRegister == Register.None && instruction.MemoryDisplSize != 8) return;
        op.AddressKind = FastOp.AddressRegisters;
        op.MemoryBase = baseRegister == Register.None ? FastOp.NoRegister : (byte)s_gprIndex[(int)baseRegister];
        op.MemoryIndex = indexRegister == Register.None ? FastOp.NoRegister : (byte)s_gprIndex[(int)indexRegister];
        op.MemoryScaleShift = (byte)System.Numerics.BitOperations.Log2((uint)Math.Max(1, instruction.MemoryIndexScale));
        op.Displacement = instruction.MemoryDisplacement64;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ulong FastEffectiveAddress(ref FastOp op, ref Instruction instruction)
    {
        switch (op.AddressKind)
        {
            case FastOp.AddressRegisters:
            {
                ulong address = op.Displacement;
                if (op.MemoryBase != FastOp.NoRegister) address += Gpr[op.MemoryBase];
                if (op.MemoryIndex != FastOp.NoRegister) address += Gpr[op.MemoryIndex] << op.MemoryScaleShift;
                return address;
            }
            case FastOp.AddressRipRelative:
                return _nextRip + op.Displacement;
            default:
                return EffectiveAddress(ref instruction);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void WriteWide(int index, ulong value, int size) => Gpr[index] = size == 8 ? value : value & 0xFFFFFFFF;

    /// <summary>Executes a pre-decoded instruction; same semantics as <see cref="Execute"/> for the shapes it accepts.</summary>
    private void ExecuteFast(ref FastOp op, ref Instruction instruction)
    {
        switch (op.Kind)
        {
            case FastKind.MovRegReg:
                WriteWide(op.Destination, Gpr[op.Source], op.Size);
                return;
            case FastKind.MovRegImm:
                Gpr[op.Destination] = op.Immediate;
                return;
            case FastKind.MovRegMem:
                Gpr[op.Destination] = ReadMemory(op.MemorySegment, FastEffectiveAddress(ref op, ref instruction), op.Size);
                return;
            case FastKind.MovMemReg:
                WriteMemory(op.MemorySegment, FastEffectiveAddress(ref op, ref instruction), op.Size, Gpr[op.Source]);
                return;
            case FastKind.MovMemImm:
                WriteMemory(op.MemorySegment, FastEffectiveAddress(ref op, ref instruction), op.Size, op.Immediate);
                return;
            case FastKind.AluRegReg:
            case FastKind.AluRegImm:
            case FastKind.AluRegMem:
            {
                ulong mask = SizeMask(op.Size);
                ulong source = op.Kind == FastKind.AluRegReg ? Gpr[op.Source] & mask
                    : op.Kind == FastKind.AluRegImm ? op.Immediate
                    : ReadMemory(op.MemorySegment, FastEffectiveAddress(ref op, ref instruction), op.Size);
                AluOp alu = (AluOp)op.Operation;
                ulong result = Compute(alu, Gpr[op.Destination] & mask, source, op.Size);
                if (alu is not (AluOp.Cmp or AluOp.Test)) Gpr[op.Destination] = result;
                return;
            }
            case FastKind.IncDec:
            {
                ulong mask = SizeMask(op.Size);
                Gpr[op.Destination] = Compute((AluOp)op.Operation, Gpr[op.Destination] & mask, 0, op.Size);
                return;
            }
            case FastKind.Jcc:
                if (Condition((ConditionCode)op.Operation)) SetBranchTarget(_nextRip + op.Immediate);
                return;
            case FastKind.Jmp:
                SetBranchTarget(_nextRip + op.Immediate);
                return;
            case FastKind.PushReg:
                Push(Gpr[op.Destination], 8);
                return;
            case FastKind.PopReg:
            {
                ulong value = Pop(8);
                Gpr[op.Destination] = value;
                return;
            }
        }
        Execute(ref instruction);
    }
}
