using System.Runtime.CompilerServices;
using Iced.Intel;

namespace KvmSharp.Soft.Cpu;

/// <summary>Pre-decoded shapes of the most frequent instructions, so the hot loop skips Iced operand decoding.</summary>
internal enum FastKind : byte
{
    /// <summary>Not pre-decoded: the general <c>Execute</c> path runs it.</summary>
    None,
    Nop,
    MovRegReg,
    MovRegImm,
    MovRegMem,
    MovMemReg,
    MovMemImm,
    MovzxRegReg,
    MovzxRegMem,
    MovsxRegReg,
    MovsxRegMem,
    Lea,
    AluRegReg,
    AluRegImm,
    AluRegMem,
    AluMemReg,
    AluMemImm,
    IncDec,
    Neg,
    Not,
    ShiftRegImm,
    ShiftRegCl,
    ImulRegReg,
    ImulRegMem,
    ImulRegRegImm,
    ImulRegMemImm,
    Jcc,
    Jmp,
    PushReg,
    PopReg,

    // Specialised register-only shapes: one dispatch per instruction instead of a second switch on the ALU operation
    // or condition, whose shared indirect jump the host predicts poorly.
    AddRegReg, AddRegImm, SubRegReg, SubRegImm, CmpRegReg, CmpRegImm,
    AndRegReg, AndRegImm, OrRegReg, OrRegImm, XorRegReg, XorRegImm, TestRegReg, TestRegImm,
    Inc, Dec, ShlRegImm, ShrRegImm, SarRegImm,
    JumpIfEqual, JumpIfNotEqual,
}

/// <summary>
/// One pre-decoded instruction. Register destinations are 32/64-bit general registers only, so no partial-register
/// merging is needed; memory destinations may be 1–8 bytes.
/// </summary>
internal struct FastOp
{
    public FastKind Kind;
    /// <summary>The <see cref="AluOp"/> or the <see cref="ConditionCode"/>.</summary>
    public byte Operation;
    public byte Destination;
    public byte Source;
    /// <summary>Operand size in bytes (for branches: the size RIP wraps at).</summary>
    public byte Size;
    /// <summary>Source size of MOVZX/MOVSX/MOVSXD.</summary>
    public byte SourceSize;
    /// <summary>Instruction length in bytes.</summary>
    public byte Length;
    /// <summary>All ones in the operand's <see cref="Size"/> bytes.</summary>
    public ulong Mask;
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
            ref Instruction instruction = ref instructions[i];
            ops[i] = Classify(ref instruction);
            ops[i].Mask = ops[i].Size is 1 or 2 or 4 or 8 ? SizeMask(ops[i].Size) : 0;
            Specialize(ref ops[i]);
            if (ops[i].Kind != FastKind.None && HasMemoryOperand(ref instruction))
                DescribeAddress(ref instruction, ref ops[i]);
            ops[i].Length = (byte)instruction.Length;
        }
        return ops;
    }

    /// <summary>Folds the ALU operation or condition of the commonest register shapes into the kind.</summary>
    private static void Specialize(ref FastOp op)
    {
        AluOp alu = (AluOp)op.Operation;
        bool immediate = op.Kind == FastKind.AluRegImm;
        if (op.Kind is FastKind.AluRegReg or FastKind.AluRegImm)
        {
            FastKind? special = alu switch
            {
                AluOp.Add => immediate ? FastKind.AddRegImm : FastKind.AddRegReg,
                AluOp.Sub => immediate ? FastKind.SubRegImm : FastKind.SubRegReg,
                AluOp.Cmp => immediate ? FastKind.CmpRegImm : FastKind.CmpRegReg,
                AluOp.And => immediate ? FastKind.AndRegImm : FastKind.AndRegReg,
                AluOp.Or => immediate ? FastKind.OrRegImm : FastKind.OrRegReg,
                AluOp.Xor => immediate ? FastKind.XorRegImm : FastKind.XorRegReg,
                AluOp.Test => immediate ? FastKind.TestRegImm : FastKind.TestRegReg,
                _ => null,
            };
            if (special != null) op.Kind = special.Value;
        }
        else if (op.Kind == FastKind.IncDec)
        {
            op.Kind = alu == AluOp.Inc ? FastKind.Inc : FastKind.Dec;
        }
        else if (op.Kind == FastKind.ShiftRegImm && alu is AluOp.Shl or AluOp.Shr or AluOp.Sar)
        {
            // Only a count that is not zero once masked: a zero count leaves the flags, which the general form handles.
            ulong count = op.Immediate & (op.Size == 8 ? 0x3FUL : 0x1FUL);
            if (count != 0)
            {
                op.Kind = alu == AluOp.Shl ? FastKind.ShlRegImm : alu == AluOp.Shr ? FastKind.ShrRegImm : FastKind.SarRegImm;
                op.Immediate = count;
            }
        }
        else if (op.Kind == FastKind.Jcc && (ConditionCode)op.Operation is ConditionCode.e or ConditionCode.ne)
        {
            op.Kind = (ConditionCode)op.Operation == ConditionCode.e ? FastKind.JumpIfEqual : FastKind.JumpIfNotEqual;
        }
    }

    private static bool HasMemoryOperand(ref Instruction instruction)
    {
        for (int i = 0; i < instruction.OpCount; i++)
            if (instruction.GetOpKind(i) == OpKind.Memory) return true;
        return false;
    }

    private static bool IsWideGpr(Register register) => s_gprIndex[(int)register] >= 0 && s_gprSize[(int)register] >= 4;

    /// <summary>A general register of any size except AH/CH/DH/BH (whose bits are not the register's low bits).</summary>
    private static bool IsLowGpr(Register register) => s_gprIndex[(int)register] >= 0 && !s_gprHigh8[(int)register];

    private static bool IsImmediate(OpKind kind) => kind is OpKind.Immediate8 or OpKind.Immediate16 or OpKind.Immediate32
        or OpKind.Immediate64 or OpKind.Immediate8to16 or OpKind.Immediate8to32 or OpKind.Immediate8to64 or OpKind.Immediate32to64;

    private static FastOp Classify(ref Instruction instruction)
    {
        var none = new FastOp();
        if (instruction.HasLockPrefix || instruction.IsInvalid) return none;
        Mnemonic mnemonic = instruction.Mnemonic;
        int opCount = instruction.OpCount;
        if (mnemonic == Mnemonic.Nop) return Make(FastKind.Nop, 0, Register.None, Register.None, 0, 0);
        OpKind kind0 = opCount > 0 ? instruction.Op0Kind : OpKind.Register;
        OpKind kind1 = opCount > 1 ? instruction.Op1Kind : OpKind.Register;
        Register register0 = kind0 == OpKind.Register && opCount > 0 ? instruction.Op0Register : Register.None;
        Register register1 = kind1 == OpKind.Register && opCount > 1 ? instruction.Op1Register : Register.None;
        bool reg0 = register0 != Register.None && IsWideGpr(register0);
        bool reg1 = register1 != Register.None && IsWideGpr(register1);
        bool imm1 = opCount > 1 && IsImmediate(kind1);
        bool mem0 = opCount > 0 && kind0 == OpKind.Memory;
        bool mem1 = opCount > 1 && kind1 == OpKind.Memory;
        int registerSize = reg0 ? s_gprSize[(int)register0] : 0;
        int memorySize = mem0 ? instruction.MemorySize.GetSize() : 0;
        if (memorySize is not (1 or 2 or 4 or 8)) memorySize = 0;
        // A register source of a memory destination: any low general register of the memory operand's size.
        bool lowReg1 = register1 != Register.None && IsLowGpr(register1) && s_gprSize[(int)register1] == memorySize;

        AluOp alu = mnemonic switch
        {
            Mnemonic.Add => AluOp.Add, Mnemonic.Or => AluOp.Or, Mnemonic.Adc => AluOp.Adc, Mnemonic.Sbb => AluOp.Sbb,
            Mnemonic.And => AluOp.And, Mnemonic.Sub => AluOp.Sub, Mnemonic.Xor => AluOp.Xor, Mnemonic.Cmp => AluOp.Cmp,
            Mnemonic.Test => AluOp.Test, Mnemonic.Inc => AluOp.Inc, Mnemonic.Dec => AluOp.Dec,
            Mnemonic.Shl or Mnemonic.Sal => AluOp.Shl, Mnemonic.Shr => AluOp.Shr, Mnemonic.Sar => AluOp.Sar,
            Mnemonic.Rol => AluOp.Rol, Mnemonic.Ror => AluOp.Ror,
            _ => AluOp.Mov,
        };
        bool binaryAlu = alu is AluOp.Add or AluOp.Or or AluOp.Adc or AluOp.Sbb or AluOp.And or AluOp.Sub or AluOp.Xor
            or AluOp.Cmp or AluOp.Test;

        switch (mnemonic)
        {
            case Mnemonic.Mov:
                if (reg0 && reg1) return Make(FastKind.MovRegReg, 0, register0, register1, registerSize, 0);
                if (reg0 && imm1) return Make(FastKind.MovRegImm, 0, register0, Register.None, registerSize, instruction.GetImmediate(1) & SizeMask(registerSize));
                if (reg0 && mem1) return Make(FastKind.MovRegMem, 0, register0, Register.None, registerSize, 0);
                if (memorySize != 0 && lowReg1) return Make(FastKind.MovMemReg, 0, Register.None, register1, memorySize, 0);
                if (memorySize != 0 && imm1) return Make(FastKind.MovMemImm, 0, Register.None, Register.None, memorySize, instruction.GetImmediate(1) & SizeMask(memorySize));
                return none;
            case Mnemonic.Movzx:
            case Mnemonic.Movsx:
            case Mnemonic.Movsxd:
            {
                if (!reg0) return none;
                bool zero = mnemonic == Mnemonic.Movzx;
                if (register1 != Register.None && IsLowGpr(register1))
                    return WithSource(Make(zero ? FastKind.MovzxRegReg : FastKind.MovsxRegReg, 0, register0, register1, registerSize, 0), s_gprSize[(int)register1]);
                if (mem1)
                {
                    int sourceSize = instruction.MemorySize.GetSize();
                    if (sourceSize is 1 or 2 or 4)
                        return WithSource(Make(zero ? FastKind.MovzxRegMem : FastKind.MovsxRegMem, 0, register0, Register.None, registerSize, 0), sourceSize);
                }
                return none;
            }
            case Mnemonic.Lea:
                return reg0 && mem1 ? Make(FastKind.Lea, 0, register0, Register.None, registerSize, 0) : none;
            case Mnemonic.Neg:
            case Mnemonic.Not:
                return reg0 && opCount == 1 ? Make(mnemonic == Mnemonic.Neg ? FastKind.Neg : FastKind.Not, 0, register0, Register.None, registerSize, 0) : none;
            case Mnemonic.Imul:
                if (!reg0 || opCount < 2) return none;
                if (opCount == 2)
                {
                    if (reg1) return Make(FastKind.ImulRegReg, 0, register0, register1, registerSize, 0);
                    if (mem1) return Make(FastKind.ImulRegMem, 0, register0, Register.None, registerSize, 0);
                    return none;
                }
                if (!IsImmediate(instruction.Op2Kind)) return none;
                if (reg1) return Make(FastKind.ImulRegRegImm, 0, register0, register1, registerSize, instruction.GetImmediate(2) & SizeMask(registerSize));
                if (mem1) return Make(FastKind.ImulRegMemImm, 0, register0, Register.None, registerSize, instruction.GetImmediate(2) & SizeMask(registerSize));
                return none;
        }

        if (alu is AluOp.Inc or AluOp.Dec && reg0 && opCount == 1)
            return Make(FastKind.IncDec, (byte)alu, register0, Register.None, registerSize, 0);
        if (alu is AluOp.Shl or AluOp.Shr or AluOp.Sar or AluOp.Rol or AluOp.Ror && reg0 && opCount == 2)
        {
            if (imm1) return Make(FastKind.ShiftRegImm, (byte)alu, register0, Register.None, registerSize, instruction.GetImmediate(1) & 0xFF);
            if (register1 == Register.CL) return Make(FastKind.ShiftRegCl, (byte)alu, register0, Register.None, registerSize, 0);
            return none;
        }
        if (binaryAlu && reg0)
        {
            if (reg1) return Make(FastKind.AluRegReg, (byte)alu, register0, register1, registerSize, 0);
            if (imm1) return Make(FastKind.AluRegImm, (byte)alu, register0, Register.None, registerSize, instruction.GetImmediate(1) & SizeMask(registerSize));
            if (mem1) return Make(FastKind.AluRegMem, (byte)alu, register0, Register.None, registerSize, 0);
        }
        if (binaryAlu && memorySize != 0)
        {
            if (lowReg1) return Make(FastKind.AluMemReg, (byte)alu, Register.None, register1, memorySize, 0);
            if (imm1) return Make(FastKind.AluMemImm, (byte)alu, Register.None, Register.None, memorySize, instruction.GetImmediate(1) & SizeMask(memorySize));
        }
        if (opCount == 1 && kind0 is OpKind.NearBranch64 or OpKind.NearBranch32 or OpKind.NearBranch16)
        {
            (ulong displacement, int ripSize) = kind0 switch
            {
                OpKind.NearBranch64 => (instruction.NearBranch64 - instruction.NextIP, 8),
                OpKind.NearBranch32 => ((ulong)(uint)(instruction.NearBranch32 - instruction.NextIP32), 4),
                _ => ((ulong)(ushort)(instruction.NearBranch16 - instruction.NextIP16), 2),
            };
            if (mnemonic == Mnemonic.Jmp) return Make(FastKind.Jmp, 0, Register.None, Register.None, ripSize, displacement);
            ConditionCode condition = instruction.ConditionCode;
            if (instruction.IsJccShortOrNear && condition != ConditionCode.None)
                return Make(FastKind.Jcc, (byte)condition, Register.None, Register.None, ripSize, displacement);
        }
        if (mnemonic == Mnemonic.Push && reg0 && instruction.StackPointerIncrement == -8 && register0 != Register.RSP)
            return Make(FastKind.PushReg, 0, register0, Register.None, 8, 0);
        if (mnemonic == Mnemonic.Pop && reg0 && instruction.StackPointerIncrement == 8 && register0 != Register.RSP)
            return Make(FastKind.PopReg, 0, register0, Register.None, 8, 0);
        return none;

        static FastOp Make(FastKind kind, byte operation, Register destination, Register source, int size, ulong immediate) => new()
        {
            Kind = kind,
            Operation = operation,
            Destination = destination == Register.None ? (byte)0 : (byte)s_gprIndex[(int)destination],
            Source = source == Register.None ? (byte)0 : (byte)s_gprIndex[(int)source],
            Size = (byte)size,
            Immediate = immediate,
        };

        static FastOp WithSource(FastOp op, int sourceSize)
        {
            op.SourceSize = (byte)sourceSize;
            return op;
        }
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

    /// <summary>
    /// Whether a data access may skip segmentation: 64-bit mode, no segment base (DS/ES/SS), canonical, within one page,
    /// and RFLAGS.AC clear (with AC set the general path decides on the alignment check).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool FastDataAccess(ref FastOp op, ulong offset, int size) =>
        _mode64 && op.MemorySegment < (int)SegmentIndex.FS && (_rflags & X86.FlagAlignmentCheck) == 0
        && (offset & 0xFFF) + (ulong)size <= 0x1000 && IsCanonical(offset);

    /// <summary>
    /// A data read that <see cref="FastDataAccess"/> allows and that hits the TLB, without the general path's checks and
    /// calls; everything else (other modes, FS/GS, page splits, misses, MMIO) takes <see cref="ReadMemory"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ulong FastRead(ref FastOp op, ref Instruction instruction, int size)
    {
        ulong offset = FastEffectiveAddress(ref op, ref instruction);
        if (FastDataAccess(ref op, offset, size))
        {
            TlbEntry[] tlb = _cpl == 3 && !_systemAccess ? _userTlb : _supervisorTlb;
            ref TlbEntry entry = ref tlb[(int)((offset >> 12) & (TlbSize - 1))];
            byte* host = entry.ReadHost;
            if (entry.Tag == TlbTag(offset) && host != null)
                return LoadHost(host + (offset & 0xFFF), size);
        }
        return ReadMemory(op.MemorySegment, offset, size);
    }

    /// <summary>The write counterpart of <see cref="FastRead"/>; pages holding decoded code never have a TLB write pointer.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void FastWrite(ref FastOp op, ref Instruction instruction, int size, ulong value)
    {
        ulong offset = FastEffectiveAddress(ref op, ref instruction);
        if (FastDataAccess(ref op, offset, size))
        {
            TlbEntry[] tlb = _cpl == 3 && !_systemAccess ? _userTlb : _supervisorTlb;
            ref TlbEntry entry = ref tlb[(int)((offset >> 12) & (TlbSize - 1))];
            byte* host = entry.WriteHost;
            if (entry.Tag == TlbTag(offset) && host != null)
            {
                StoreHost(host + (offset & 0xFFF), size, value);
                return;
            }
        }
        WriteMemory(op.MemorySegment, offset, size, value);
    }

    /// <summary>
    /// Executes a pre-decoded instruction; same semantics as <see cref="Execute"/> for the shapes it accepts (flags may be
    /// recorded for <see cref="Rflags"/> to work out). Faults are raised before anything is committed, as there. Each group is its
    /// own small method so the JIT inlines the memory fast paths into every one of them.
    /// </summary>
    private void ExecuteFast(ref FastOp op, ref Instruction instruction)
    {
        if (ExecuteRegisterOp(ref op, ref Unsafe.As<GeneralRegisters, ulong>(ref Gpr)))
            return;
        switch (op.Kind)
        {
            case FastKind.MovRegMem:
            case FastKind.MovzxRegMem:
            case FastKind.MovsxRegMem:
                LoadRegister(ref op, ref instruction);
                return;
            case FastKind.MovMemReg:
            case FastKind.MovMemImm:
                StoreOperand(ref op, ref instruction);
                return;
            case FastKind.AluRegMem:
                AluFromMemory(ref op, ref instruction);
                return;
            case FastKind.AluMemReg:
            case FastKind.AluMemImm:
                AluToMemory(ref op, ref instruction, op.Kind == FastKind.AluMemReg ? Gpr[op.Source] & SizeMask(op.Size) : op.Immediate);
                return;
            case FastKind.ImulRegReg:
            case FastKind.ImulRegMem:
            case FastKind.ImulRegRegImm:
            case FastKind.ImulRegMemImm:
                Multiply(ref op, ref instruction);
                return;
            case FastKind.PushReg:
            case FastKind.PopReg:
                PushPop(ref op);
                return;
            case FastKind.MovsxRegReg:
                WriteWide(op.Destination, (ulong)SignExtend(Gpr[op.Source], op.SourceSize), op.Size);
                return;
            case FastKind.Lea:
                WriteWide(op.Destination, FastEffectiveAddress(ref op, ref instruction), op.Size);
                return;
            case FastKind.Neg:
            {
                ulong mask = SizeMask(op.Size);
                ulong value = Gpr[op.Destination] & mask;
                ulong result = (0 - value) & mask;
                // NEG's flags are those of 0 - value.
                DeferFlags(LazyFlagsKind.Sub, 0, value, result, op.Size);
                Gpr[op.Destination] = result;
                return;
            }
            case FastKind.Not:
                Gpr[op.Destination] = ~Gpr[op.Destination] & SizeMask(op.Size);
                return;
            case FastKind.ShiftRegCl:
                Gpr[op.Destination] = ComputeDeferred((AluOp)op.Operation, Gpr[op.Destination] & SizeMask(op.Size), Gpr[1] & 0xFF, op.Size);
                return;
        }
        Execute(ref instruction);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void LoadRegister(ref FastOp op, ref Instruction instruction)
    {
        switch (op.Kind)
        {
            case FastKind.MovRegMem:
                Gpr[op.Destination] = FastRead(ref op, ref instruction, op.Size);
                return;
            case FastKind.MovzxRegMem:
                Gpr[op.Destination] = FastRead(ref op, ref instruction, op.SourceSize);
                return;
            default:
                WriteWide(op.Destination, (ulong)SignExtend(FastRead(ref op, ref instruction, op.SourceSize), op.SourceSize), op.Size);
                return;
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void StoreOperand(ref FastOp op, ref Instruction instruction) =>
        FastWrite(ref op, ref instruction, op.Size, op.Kind == FastKind.MovMemReg ? Gpr[op.Source] : op.Immediate);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void AluFromMemory(ref FastOp op, ref Instruction instruction)
    {
        ulong mask = SizeMask(op.Size);
        ulong source = FastRead(ref op, ref instruction, op.Size);
        AluOp alu = (AluOp)op.Operation;
        ulong result = ComputeDeferred(alu, Gpr[op.Destination] & mask, source, op.Size);
        if (alu is not (AluOp.Cmp or AluOp.Test)) Gpr[op.Destination] = result;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void Multiply(ref FastOp op, ref Instruction instruction)
    {
        switch (op.Kind)
        {
            case FastKind.ImulRegReg:
                FastMultiply(op.Destination, Gpr[op.Destination], Gpr[op.Source], op.Size);
                return;
            case FastKind.ImulRegMem:
                FastMultiply(op.Destination, Gpr[op.Destination], FastRead(ref op, ref instruction, op.Size), op.Size);
                return;
            case FastKind.ImulRegRegImm:
                FastMultiply(op.Destination, Gpr[op.Source], op.Immediate, op.Size);
                return;
            default:
                FastMultiply(op.Destination, FastRead(ref op, ref instruction, op.Size), op.Immediate, op.Size);
                return;
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void PushPop(ref FastOp op)
    {
        if (op.Kind == FastKind.PushReg)
        {
            Push(Gpr[op.Destination], 8);
            return;
        }
        ulong value = Pop(8);
        Gpr[op.Destination] = value;
    }

    /// <summary>
    /// The register-only shapes, inlined into the block loop (no call, no frame set-up per instruction). Returns false,
    /// having done nothing, for every other shape. <paramref name="registers"/> is <see cref="Gpr"/>[0]; pre-decoded
    /// register numbers are below 16, so no bounds checks are needed.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool ExecuteRegisterOp(ref FastOp op, ref ulong registers)
    {
        switch (op.Kind)
        {
            case FastKind.AddRegReg: DeferredAdd(ref op, ref registers, Unsafe.Add(ref registers, op.Source) & op.Mask); return true;
            case FastKind.AddRegImm: DeferredAdd(ref op, ref registers, op.Immediate); return true;
            case FastKind.SubRegReg: DeferredSub(ref op, ref registers, Unsafe.Add(ref registers, op.Source) & op.Mask, write: true); return true;
            case FastKind.SubRegImm: DeferredSub(ref op, ref registers, op.Immediate, write: true); return true;
            case FastKind.CmpRegReg: DeferredSub(ref op, ref registers, Unsafe.Add(ref registers, op.Source) & op.Mask, write: false); return true;
            case FastKind.CmpRegImm: DeferredSub(ref op, ref registers, op.Immediate, write: false); return true;
            case FastKind.AndRegReg: DeferredLogic(ref op, ref registers, Unsafe.Add(ref registers, op.Source), AluOp.And); return true;
            case FastKind.AndRegImm: DeferredLogic(ref op, ref registers, op.Immediate, AluOp.And); return true;
            case FastKind.OrRegReg: DeferredLogic(ref op, ref registers, Unsafe.Add(ref registers, op.Source), AluOp.Or); return true;
            case FastKind.OrRegImm: DeferredLogic(ref op, ref registers, op.Immediate, AluOp.Or); return true;
            case FastKind.XorRegReg: DeferredLogic(ref op, ref registers, Unsafe.Add(ref registers, op.Source), AluOp.Xor); return true;
            case FastKind.XorRegImm: DeferredLogic(ref op, ref registers, op.Immediate, AluOp.Xor); return true;
            case FastKind.TestRegReg: DeferredLogic(ref op, ref registers, Unsafe.Add(ref registers, op.Source), AluOp.Test); return true;
            case FastKind.TestRegImm: DeferredLogic(ref op, ref registers, op.Immediate, AluOp.Test); return true;
            case FastKind.Inc:
            case FastKind.Dec:
            {
                ref ulong destination = ref Unsafe.Add(ref registers, op.Destination);
                ulong carry = CurrentCarry();
                ulong value = destination & op.Mask;
                ulong result = (op.Kind == FastKind.Inc ? value + 1 : value - 1) & op.Mask;
                DeferFlags(op.Kind == FastKind.Inc ? LazyFlagsKind.Inc : LazyFlagsKind.Dec, value, 1, result, op.Size);
                _lazyCarryIn = carry;
                destination = result;
                return true;
            }
            case FastKind.ShlRegImm:
            {
                ref ulong destination = ref Unsafe.Add(ref registers, op.Destination);
                ulong value = destination & op.Mask;
                ulong result = (value << (int)op.Immediate) & op.Mask;
                DeferFlags(LazyFlagsKind.Shl, value, op.Immediate, result, op.Size);
                destination = result;
                return true;
            }
            case FastKind.ShrRegImm:
            {
                ref ulong destination = ref Unsafe.Add(ref registers, op.Destination);
                ulong value = destination & op.Mask;
                ulong result = value >> (int)op.Immediate;
                DeferFlags(LazyFlagsKind.Shr, value, op.Immediate, result, op.Size);
                destination = result;
                return true;
            }
            case FastKind.SarRegImm:
            {
                ref ulong destination = ref Unsafe.Add(ref registers, op.Destination);
                ulong value = destination & op.Mask;
                ulong result = (ulong)(SignExtend(value, op.Size) >> (int)op.Immediate) & op.Mask;
                DeferFlags(LazyFlagsKind.Sar, value, op.Immediate, result, op.Size);
                destination = result;
                return true;
            }
            case FastKind.JumpIfEqual:
                if (ZeroFlag()) SetBranchTarget((_nextRip + op.Immediate) & op.Mask);
                return true;
            case FastKind.JumpIfNotEqual:
                if (!ZeroFlag()) SetBranchTarget((_nextRip + op.Immediate) & op.Mask);
                return true;
            case FastKind.Nop:
                return true;
            case FastKind.MovRegReg:
                Unsafe.Add(ref registers, op.Destination) = Unsafe.Add(ref registers, op.Source) & SizeMask(op.Size);
                return true;
            case FastKind.MovRegImm:
                Unsafe.Add(ref registers, op.Destination) = op.Immediate;
                return true;
            case FastKind.MovzxRegReg:
                Unsafe.Add(ref registers, op.Destination) = Unsafe.Add(ref registers, op.Source) & SizeMask(op.SourceSize);
                return true;
            case FastKind.Lea when op.AddressKind == FastOp.AddressRegisters:
            {
                ulong address = op.Displacement;
                if (op.MemoryBase != FastOp.NoRegister) address += Unsafe.Add(ref registers, op.MemoryBase);
                if (op.MemoryIndex != FastOp.NoRegister) address += Unsafe.Add(ref registers, op.MemoryIndex) << op.MemoryScaleShift;
                Unsafe.Add(ref registers, op.Destination) = address & SizeMask(op.Size);
                return true;
            }
            case FastKind.AluRegReg:
            case FastKind.AluRegImm:
            {
                ulong mask = SizeMask(op.Size);
                ref ulong destination = ref Unsafe.Add(ref registers, op.Destination);
                ulong source = op.Kind == FastKind.AluRegReg ? Unsafe.Add(ref registers, op.Source) & mask : op.Immediate;
                AluOp alu = (AluOp)op.Operation;
                ulong result = ComputeDeferred(alu, destination & mask, source, op.Size);
                if (alu is not (AluOp.Cmp or AluOp.Test)) destination = result;
                return true;
            }
            case FastKind.IncDec:
            case FastKind.ShiftRegImm:
            {
                ref ulong destination = ref Unsafe.Add(ref registers, op.Destination);
                destination = ComputeDeferred((AluOp)op.Operation, destination & SizeMask(op.Size), op.Immediate, op.Size);
                return true;
            }
            case FastKind.Jcc:
                if (FastCondition((ConditionCode)op.Operation)) SetBranchTarget((_nextRip + op.Immediate) & SizeMask(op.Size));
                return true;
            case FastKind.Jmp:
                SetBranchTarget((_nextRip + op.Immediate) & SizeMask(op.Size));
                return true;
            default:
                return false;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void DeferredAdd(ref FastOp op, ref ulong registers, ulong source)
    {
        ref ulong destination = ref Unsafe.Add(ref registers, op.Destination);
        ulong value = destination & op.Mask;
        ulong result = (value + source) & op.Mask;
        DeferFlags(LazyFlagsKind.Add, value, source, result, op.Size);
        destination = result;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void DeferredSub(ref FastOp op, ref ulong registers, ulong source, bool write)
    {
        ref ulong destination = ref Unsafe.Add(ref registers, op.Destination);
        ulong value = destination & op.Mask;
        ulong result = (value - source) & op.Mask;
        DeferFlags(LazyFlagsKind.Sub, value, source, result, op.Size);
        if (write) destination = result;
    }

    /// <summary>AND, OR, XOR, TEST: <paramref name="source"/> may carry bits above the operand size, the mask drops them.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void DeferredLogic(ref FastOp op, ref ulong registers, ulong source, AluOp operation)
    {
        ref ulong destination = ref Unsafe.Add(ref registers, op.Destination);
        ulong value = destination & op.Mask;
        ulong result = operation switch
        {
            AluOp.And or AluOp.Test => value & source,
            AluOp.Or => value | source,
            _ => value ^ source,
        } & op.Mask;
        DeferFlags(LazyFlagsKind.Logic, value, source & op.Mask, result, op.Size);
        if (operation != AluOp.Test) destination = result;
    }

    /// <summary>Two- and three-operand IMUL with a 32/64-bit register destination; the same result and flags as ExecuteImul.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void FastMultiply(int destination, ulong left, ulong right, int size)
    {
        long a = SignExtend(left, size), b = SignExtend(right, size);
        long truncated;
        bool fits;
        if (size == 8)
        {
            long high = Math.BigMul(a, b, out long low);
            truncated = low;
            fits = high == (low >> 63);
        }
        else
        {
            long full = a * b;
            truncated = (int)full;
            fits = truncated == full;
        }
        WriteWide(destination, (ulong)truncated, size);
        SetMultiplyFlags(!fits);
    }

    /// <summary>A binary ALU operation on a memory destination without LOCK: one translation for the read and the write.</summary>
    private void AluToMemory(ref FastOp op, ref Instruction instruction, ulong source)
    {
        AluOp alu = (AluOp)op.Operation;
        int size = op.Size;
        ulong offset = FastEffectiveAddress(ref op, ref instruction);
        if (alu is AluOp.Cmp or AluOp.Test)
        {
            ComputeDeferred(alu, ReadMemory(op.MemorySegment, offset, size), source, size);
            return;
        }
        ulong linear = ToLinear(op.MemorySegment, offset, size, AccessKind.Write);
        if ((linear & 0xFFF) + (ulong)size <= 0x1000)
        {
            byte* host = TranslateLinear(linear, AccessKind.Write, UserAccess, out _, size);
            if (host != null)
            {
                ulong result = ComputeDeferred(alu, LoadHost(host, size), source, size);
                StoreHost(host, size, result);
                return;
            }
        }
        // MMIO, page splits and pages holding decoded code.
        RmwLinear(linear, alu, source, size, atomic: false);
    }
}
