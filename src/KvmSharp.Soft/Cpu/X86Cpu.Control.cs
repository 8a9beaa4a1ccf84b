using System.Runtime.CompilerServices;
using Iced.Intel;

namespace KvmSharp.Soft.Cpu;

public sealed unsafe partial class X86Cpu
{
    // ---- Stack ----------------------------------------------------------------------------------

    private ulong StackMask => _mode64 ? ulong.MaxValue : Segments[(int)SegmentIndex.SS].Db ? 0xFFFFFFFFUL : 0xFFFFUL;

    private ulong StackPointer => Gpr[4] & StackMask;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void SetStackPointer(ulong value)
    {
        ulong mask = StackMask;
        if (mask == 0xFFFF) Gpr[4] = (Gpr[4] & ~0xFFFFUL) | (value & 0xFFFF);
        else Gpr[4] = value & mask;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Push(ulong value, int size)
    {
        ulong pointer = (StackPointer - (ulong)size) & StackMask;
        WriteMemory((int)SegmentIndex.SS, pointer, size, value);
        SetStackPointer(pointer);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ulong Pop(int size)
    {
        ulong pointer = StackPointer;
        ulong value = ReadMemory((int)SegmentIndex.SS, pointer, size);
        SetStackPointer(pointer + (ulong)size);
        return value;
    }

    /// <summary>Reads the stack at an offset from RSP without moving it (for instructions that must not commit before all reads succeed).</summary>
    private ulong PeekStack(ulong offset, int size) =>
        ReadMemory((int)SegmentIndex.SS, (StackPointer + offset) & StackMask, size);

    private void ExecutePush(ref Instruction instruction)
    {
        int size = -instruction.StackPointerIncrement;
        ulong value;
        if (instruction.Op0Kind == OpKind.Register && instruction.Op0Register.IsSegmentRegister())
            value = Segments[instruction.Op0Register - Register.ES].Selector;
        else if (instruction.Op0Kind == OpKind.Register && instruction.Op0Register == Register.RSP)
            value = Gpr[4];
        else
            value = ReadOperand(ref instruction, 0, size);
        Push(value, size);
    }

    private void ExecutePop(ref Instruction instruction)
    {
        int size = instruction.StackPointerIncrement;
        if (instruction.Op0Kind == OpKind.Register)
        {
            Register register = instruction.Op0Register;
            if (register.IsSegmentRegister())
            {
                ulong selector = PeekStack(0, size);
                LoadSegmentRegister((SegmentIndex)(register - Register.ES), (ushort)selector);
                SetStackPointer(StackPointer + (ulong)size);
                return;
            }
            ulong value = Pop(size);
            WriteRegister(register, value);
            return;
        }
        // POP m: the address is computed after RSP is incremented.
        ulong popped = PeekStack(0, size);
        ulong savedRsp = Gpr[4];
        SetStackPointer(StackPointer + (ulong)size);
        try
        {
            WriteOperand(ref instruction, 0, size, popped);
        }
        catch (GuestFault)
        {
            Gpr[4] = savedRsp;
            throw;
        }
    }

    private void ExecutePusha(ref Instruction instruction)
    {
        if (_mode64) throw Ud();
        int size = instruction.Mnemonic == Mnemonic.Pushad ? 4 : 2;
        ulong originalSp = Gpr[4];
        ulong pointer = StackPointer;
        for (int i = 0; i < 8; i++)
        {
            pointer = (pointer - (ulong)size) & StackMask;
            ulong value = i == 4 ? originalSp : Gpr[i];
            WriteMemory((int)SegmentIndex.SS, pointer, size, value);
        }
        SetStackPointer(pointer);
    }

    private void ExecutePopa(ref Instruction instruction)
    {
        if (_mode64) throw Ud();
        int size = instruction.Mnemonic == Mnemonic.Popad ? 4 : 2;
        Span<ulong> values = stackalloc ulong[8];
        for (int i = 0; i < 8; i++)
            values[7 - i] = PeekStack((ulong)(i * size), size);
        for (int i = 0; i < 8; i++)
        {
            if (i == 4) continue;
            if (size == 4) Gpr[i] = values[i] & 0xFFFFFFFF;
            else Gpr[i] = (Gpr[i] & ~0xFFFFUL) | (values[i] & 0xFFFF);
        }
        SetStackPointer(StackPointer + (ulong)(8 * size));
    }

    private static int OperandSizeFromCode(Code code, int defaultSize)
    {
        string name = code.ToString();
        if (name.StartsWith("Enterw", StringComparison.Ordinal) || name.StartsWith("Leavew", StringComparison.Ordinal) || name.StartsWith("Retnw", StringComparison.Ordinal) || name.StartsWith("Retfw", StringComparison.Ordinal)) return 2;
        if (name.StartsWith("Enterd", StringComparison.Ordinal) || name.StartsWith("Leaved", StringComparison.Ordinal) || name.StartsWith("Retnd", StringComparison.Ordinal) || name.StartsWith("Retfd", StringComparison.Ordinal)) return 4;
        if (name.StartsWith("Enterq", StringComparison.Ordinal) || name.StartsWith("Leaveq", StringComparison.Ordinal) || name.StartsWith("Retnq", StringComparison.Ordinal) || name.StartsWith("Retfq", StringComparison.Ordinal)) return 8;
        return defaultSize;
    }

    private static readonly byte[] s_codeOperandSize = BuildCodeOperandSizes();

    private static byte[] BuildCodeOperandSizes()
    {
        Code[] codes = Enum.GetValues<Code>();
        int max = 0;
        foreach (Code c in codes) max = Math.Max(max, (int)c);
        var sizes = new byte[max + 1];
        foreach (Code c in codes) sizes[(int)c] = (byte)OperandSizeFromCode(c, 0);
        return sizes;
    }

    /// <summary>Operand size of ENTER/LEAVE/RET/RETF, from Iced's code.</summary>
    private static int StackOperandSize(ref Instruction instruction) => s_codeOperandSize[(int)instruction.Code];

    private void ExecuteEnter(ref Instruction instruction)
    {
        int size = StackOperandSize(ref instruction);
        ulong allocation = instruction.Immediate16;
        int level = instruction.Immediate8_2nd & 31;
        ulong mask = StackMask;
        ulong pointer = (StackPointer - (ulong)size) & mask;
        WriteMemory((int)SegmentIndex.SS, pointer, size, Gpr[5]);
        ulong frame = pointer;
        ulong framePointer = Gpr[5];
        ulong bpMask = size == 2 ? 0xFFFFUL : size == 4 ? 0xFFFFFFFFUL : ulong.MaxValue;
        if (level > 0)
        {
            for (int i = 1; i < level; i++)
            {
                framePointer = (framePointer - (ulong)size) & (_mode64 ? ulong.MaxValue : mask);
                ulong value = ReadMemory((int)SegmentIndex.SS, framePointer & mask, size);
                pointer = (pointer - (ulong)size) & mask;
                WriteMemory((int)SegmentIndex.SS, pointer, size, value);
            }
            pointer = (pointer - (ulong)size) & mask;
            WriteMemory((int)SegmentIndex.SS, pointer, size, frame);
        }
        ulong newPointer = (pointer - allocation) & mask;
        // The final stack pointer is checked as a write of the operand size (the processor raises #AC when it is misaligned).
        if (allocation != 0) ToLinear((int)SegmentIndex.SS, newPointer, size, AccessKind.Write);
        WriteRegister(size == 2 ? Register.BP : size == 4 ? Register.EBP : Register.RBP, frame & bpMask);
        SetStackPointer(newPointer);
    }

    private void ExecuteLeave(ref Instruction instruction)
    {
        int size = StackOperandSize(ref instruction);
        ulong frame = Gpr[5] & StackMask;
        ulong savedBp;
        try
        {
            savedBp = ReadMemory((int)SegmentIndex.SS, frame, size);
        }
        catch (CpuExitException)
        {
            // KVM's emulator loads the stack pointer from the frame pointer before its pop: when the pop reads MMIO, the
            // exit shows the new stack pointer. Re-executing after the read is unaffected, since the frame pointer has
            // not changed. A fault on the pop leaves both untouched, as on the processor.
            SetStackPointer(frame);
            throw;
        }
        SetStackPointer(frame + (ulong)size);
        WriteRegister(size == 2 ? Register.BP : size == 4 ? Register.EBP : Register.RBP, savedBp);
    }

    // ---- Flags register -------------------------------------------------------------------------

    private int Iopl => (int)((Rflags >> 12) & 3);

    private void ExecutePushf(ref Instruction instruction)
    {
        int size = -instruction.StackPointerIncrement;
        if ((Rflags & X86.FlagVm86) != 0 && Iopl < 3) throw Gp0();
        Push(Rflags & ~(X86.FlagVm86 | X86.FlagResume), size);
    }

    private void ExecutePopf(ref Instruction instruction)
    {
        int size = instruction.StackPointerIncrement;
        if ((Rflags & X86.FlagVm86) != 0 && Iopl < 3) throw Gp0();
        ulong value = Pop(size);
        ulong modifiable = X86.ArithmeticFlags | X86.FlagTrap | X86.FlagDirection | X86.FlagNestedTask | X86.FlagAlignmentCheck | X86.FlagId;
        if (!_protectedMode || _cpl == 0) modifiable |= X86.FlagIopl;
        if (!_protectedMode || _cpl <= Iopl) modifiable |= X86.FlagInterrupt;
        if (size == 2) modifiable &= 0xFFFF;
        Rflags = ((Rflags & ~modifiable) | (value & modifiable) | X86.FlagReserved1) & ~X86.FlagResume;
        _endBlock = true;
    }

    private void ExecuteCli()
    {
        if (_protectedMode && _cpl > Iopl) throw Gp0();
        Rflags &= ~X86.FlagInterrupt;
    }

    private void ExecuteSti()
    {
        if (_protectedMode && _cpl > Iopl) throw Gp0();
        if ((Rflags & X86.FlagInterrupt) == 0)
        {
            Rflags |= X86.FlagInterrupt;
            InterruptShadow |= X86.ShadowSti;
            _endBlock = true;
        }
    }

    // ---- Branches -------------------------------------------------------------------------------

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ulong BranchTarget(ref Instruction instruction)
    {
        switch (instruction.Op0Kind)
        {
            case OpKind.NearBranch64:
                return _nextRip + (instruction.NearBranch64 - instruction.NextIP);
            case OpKind.NearBranch32:
                return (uint)(_nextRip + (instruction.NearBranch32 - instruction.NextIP32));
            default:
                return (ushort)(_nextRip + (ulong)(ushort)(instruction.NearBranch16 - instruction.NextIP16));
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void SetBranchTarget(ulong target)
    {
        if (_mode64)
        {
            if (!IsCanonical(target)) throw Gp0();
        }
        else if (_protectedMode && target > Segments[(int)SegmentIndex.CS].Limit)
        {
            throw Gp0();
        }
        _nextRip = target;
    }

    private void ExecuteJmp(ref Instruction instruction)
    {
        switch (instruction.Op0Kind)
        {
            case OpKind.NearBranch16:
            case OpKind.NearBranch32:
            case OpKind.NearBranch64:
                SetBranchTarget(BranchTarget(ref instruction));
                return;
            case OpKind.FarBranch16:
            case OpKind.FarBranch32:
                FarJump(instruction.FarBranchSelector, instruction.Op0Kind == OpKind.FarBranch16 ? instruction.FarBranch16 : instruction.FarBranch32);
                return;
        }
        if (instruction.IsJmpFarIndirect)
        {
            ReadFarPointer(ref instruction, out ushort selector, out ulong offset);
            FarJump(selector, offset);
            return;
        }
        int size = OperandSize(ref instruction, 0);
        SetBranchTarget(ReadOperand(ref instruction, 0, size));
    }

    private void ReadFarPointer(ref Instruction instruction, out ushort selector, out ulong offset)
    {
        int total = instruction.MemorySize.GetSize();
        int offsetSize = total - 2;
        int segment = MemorySegment(ref instruction);
        ulong address = EffectiveAddress(ref instruction);
        offset = ReadMemory(segment, address, offsetSize);
        ulong selectorAddress = address + (ulong)offsetSize;
        if (!_mode64) selectorAddress &= 0xFFFFFFFF;
        selector = (ushort)ReadMemory(segment, selectorAddress, 2);
    }

    private void ExecuteCall(ref Instruction instruction)
    {
        switch (instruction.Op0Kind)
        {
            case OpKind.NearBranch16:
            case OpKind.NearBranch32:
            case OpKind.NearBranch64:
            {
                ulong target = BranchTarget(ref instruction);
                int size = -instruction.StackPointerIncrement;
                SetBranchTarget(target);
                Push(_instructionRip + (ulong)instruction.Length, size);
                return;
            }
            case OpKind.FarBranch16:
            case OpKind.FarBranch32:
                FarCall(instruction.FarBranchSelector, instruction.Op0Kind == OpKind.FarBranch16 ? instruction.FarBranch16 : instruction.FarBranch32,
                    instruction.Op0Kind == OpKind.FarBranch16 ? 2 : 4);
                return;
        }
        if (instruction.IsCallFarIndirect)
        {
            ReadFarPointer(ref instruction, out ushort selector, out ulong offset);
            FarCall(selector, offset, instruction.MemorySize.GetSize() - 2);
            return;
        }
        int width = OperandSize(ref instruction, 0);
        ulong destination = ReadOperand(ref instruction, 0, width);
        ulong returnAddress = (_instructionRip + (ulong)instruction.Length) & _ripMask;
        SetBranchTarget(destination);
        Push(returnAddress, width);
    }

    private void ExecuteRet(ref Instruction instruction)
    {
        int size = StackOperandSize(ref instruction);
        ulong target = PeekStack(0, size);
        SetBranchTarget(target);
        ulong release = instruction.OpCount > 0 ? instruction.Immediate16 : 0UL;
        SetStackPointer(StackPointer + (ulong)size + release);
    }

    private void ExecuteJcxz(ref Instruction instruction)
    {
        ulong counter = instruction.Mnemonic switch
        {
            Mnemonic.Jcxz => Gpr[1] & 0xFFFF,
            Mnemonic.Jecxz => Gpr[1] & 0xFFFFFFFF,
            _ => Gpr[1],
        };
        if (counter == 0) SetBranchTarget(BranchTarget(ref instruction));
    }

    private static readonly byte[] s_loopCounterSize = BuildLoopCounterSizes();

    private static byte[] BuildLoopCounterSizes()
    {
        Code[] codes = Enum.GetValues<Code>();
        int max = 0;
        foreach (Code c in codes) max = Math.Max(max, (int)c);
        var sizes = new byte[max + 1];
        foreach (Code c in codes)
        {
            string name = c.ToString();
            if (!name.StartsWith("Loop", StringComparison.Ordinal)) continue;
            sizes[(int)c] = name.EndsWith("_RCX", StringComparison.Ordinal) ? (byte)8 : name.EndsWith("_ECX", StringComparison.Ordinal) ? (byte)4 : (byte)2;
        }
        return sizes;
    }

    private void ExecuteLoop(ref Instruction instruction)
    {
        int counterSize = s_loopCounterSize[(int)instruction.Code];
        ulong mask = SizeMask(counterSize);
        ulong counter = (Gpr[1] - 1) & mask;
        bool taken = counter != 0 && instruction.Mnemonic switch
        {
            Mnemonic.Loope => (Rflags & X86.FlagZero) != 0,
            Mnemonic.Loopne => (Rflags & X86.FlagZero) == 0,
            _ => true,
        };
        ulong target = taken ? BranchTarget(ref instruction) : 0;
        if (taken) SetBranchTarget(target);
        Gpr[1] = counterSize == 8 ? counter : counterSize == 4 ? counter : (Gpr[1] & ~0xFFFFUL) | counter;
    }
}
