using Iced.Intel;

namespace KvmSharp.Soft.Cpu;

public sealed unsafe partial class X86Cpu
{
    /// <summary>Decodes the 8-byte descriptor format into a segment cache (base bits 63:32 are added by callers for 16-byte system descriptors).</summary>
    public static SegmentCache DescriptorToCache(ulong raw, ushort selector)
    {
        uint limit = (uint)(raw & 0xFFFF) | (uint)((raw >> 32) & 0xF0000);
        bool granular = ((raw >> 55) & 1) != 0;
        if (granular) limit = (limit << 12) | 0xFFF;
        return new SegmentCache
        {
            Selector = selector,
            Base = ((raw >> 16) & 0xFFFFFF) | (((raw >> 56) & 0xFF) << 24),
            Limit = limit,
            Type = (byte)((raw >> 40) & 0xF),
            S = ((raw >> 44) & 1) != 0,
            Dpl = (byte)((raw >> 45) & 3),
            Present = ((raw >> 47) & 1) != 0,
            Avl = ((raw >> 52) & 1) != 0,
            L = ((raw >> 53) & 1) != 0,
            Db = ((raw >> 54) & 1) != 0,
            G = granular,
        };
    }

    /// <summary>Reads the descriptor a selector names; #GP(selector) when it is outside its table.</summary>
    private ulong ReadDescriptor(ushort selector, out ulong descriptorAddress, int faultVector = X86.VectorGeneralProtection)
    {
        bool local = (selector & 4) != 0;
        ulong tableBase;
        uint tableLimit;
        if (local)
        {
            ref SegmentCache ldtr = ref Segments[(int)SegmentIndex.Ldtr];
            if (ldtr.Unusable || ldtr.Selector == 0 && ldtr.Base == 0 && !ldtr.Present) throw Fault((byte)faultVector, selector & 0xFFFCu);
            tableBase = ldtr.Base;
            tableLimit = ldtr.Limit;
        }
        else
        {
            tableBase = Gdtr.Base;
            tableLimit = Gdtr.Limit;
        }
        ulong offset = (ulong)(selector & 0xFFF8);
        if (offset + 7 > tableLimit) throw Fault((byte)faultVector, selector & 0xFFFCu);
        descriptorAddress = tableBase + offset;
        return ReadSystem(descriptorAddress, 8);
    }

    private void SetDescriptorAccessed(ulong descriptorAddress, ulong raw)
    {
        if ((raw & (1UL << 40)) != 0) return;
        WriteSystem(descriptorAddress + 5, 1, (raw >> 40) | 1);
    }

    private static GuestFault SelectorFault(byte vector, ushort selector) => new(vector, selector & 0xFFFCu, true);

    /// <summary>MOV/POP/LDS-family load of a data or stack segment register.</summary>
    private void LoadSegmentRegister(SegmentIndex index, ushort selector)
    {
        if (index == SegmentIndex.CS) throw Ud();
        ref SegmentCache segment = ref Segments[(int)index];
        if (!_protectedMode || (Rflags & X86.FlagVm86) != 0)
        {
            segment.Selector = selector;
            segment.Base = (ulong)selector << 4;
            if ((Rflags & X86.FlagVm86) != 0)
            {
                segment.Limit = 0xFFFF;
                segment.Type = 3;
                segment.S = true;
                segment.Present = true;
                segment.Dpl = 3;
                segment.Unusable = false;
            }
            if (index == SegmentIndex.SS) SetMovSsShadow();
            return;
        }

        int rpl = selector & 3;
        if ((selector & 0xFFFC) == 0)
        {
            if (index == SegmentIndex.SS && !(_mode64 && _cpl != 3 && rpl == _cpl))
                throw Gp0();
            segment = new SegmentCache { Selector = selector, Unusable = true, Dpl = index == SegmentIndex.SS ? (byte)_cpl : (byte)0 };
            if (index == SegmentIndex.SS) SetMovSsShadow();
            return;
        }

        ulong raw = ReadDescriptor(selector, out ulong address);
        SegmentCache loaded = DescriptorToCache(raw, selector);
        if (index == SegmentIndex.SS)
        {
            if (rpl != _cpl || loaded.Dpl != _cpl || !loaded.S || loaded.IsCode || (loaded.Type & 2) == 0)
                throw SelectorFault(X86.VectorGeneralProtection, selector);
            if (!loaded.Present) throw SelectorFault(X86.VectorStackFault, selector);
        }
        else
        {
            if (!loaded.S || (loaded.IsCode && (loaded.Type & 2) == 0))
                throw SelectorFault(X86.VectorGeneralProtection, selector);
            bool conformingCode = loaded.IsCode && (loaded.Type & 4) != 0;
            if (!conformingCode && (rpl > loaded.Dpl || _cpl > loaded.Dpl))
                throw SelectorFault(X86.VectorGeneralProtection, selector);
            if (!loaded.Present) throw SelectorFault(X86.VectorSegmentNotPresent, selector);
        }
        SetDescriptorAccessed(address, raw);
        loaded.Type |= 1;
        if (_mode64 && index is SegmentIndex.FS or SegmentIndex.GS)
        {
            // In 64-bit mode only the selector load sets the low 32 bits of the base; WRFSBASE/MSRs set the rest.
        }
        segment = loaded;
        if (index == SegmentIndex.SS)
        {
            SetMovSsShadow();
            RefreshMode();
        }
    }

    private void SetMovSsShadow()
    {
        InterruptShadow |= X86.ShadowMovSs;
        _endBlock = true;
    }

    private void ExecuteLoadFarPointer(ref Instruction instruction)
    {
        if (instruction.Op1Kind != OpKind.Memory) throw Ud();
        ReadFarPointer(ref instruction, out ushort selector, out ulong offset);
        SegmentIndex index = instruction.Mnemonic switch
        {
            Mnemonic.Lds => SegmentIndex.DS,
            Mnemonic.Les => SegmentIndex.ES,
            Mnemonic.Lfs => SegmentIndex.FS,
            Mnemonic.Lgs => SegmentIndex.GS,
            _ => SegmentIndex.SS,
        };
        LoadSegmentRegister(index, selector);
        WriteRegister(instruction.Op0Register, offset);
    }

    /// <summary>Loads CS for a far transfer to <paramref name="selector"/> at <paramref name="privilege"/> (protected mode checks done by caller).</summary>
    private void CommitCodeSegment(SegmentCache loaded, ushort selector, int privilege)
    {
        loaded.Selector = (ushort)((selector & 0xFFFC) | privilege);
        loaded.Type |= 1;
        Segments[(int)SegmentIndex.CS] = loaded;
        RefreshMode();
        _endBlock = true;
    }

    /// <summary>Checks a code-segment target of a far JMP/CALL at the current privilege level and returns its cache.</summary>
    private SegmentCache CheckFarCodeTarget(ushort selector, out ulong descriptorAddress, out ulong raw)
    {
        if ((selector & 0xFFFC) == 0) throw Gp0();
        raw = ReadDescriptor(selector, out descriptorAddress);
        SegmentCache loaded = DescriptorToCache(raw, selector);
        if (!loaded.S)
            throw new UnsupportedInstructionException($"far transfer through system descriptor type {loaded.Type} (call gate / task switch)");
        if (!loaded.IsCode) throw SelectorFault(X86.VectorGeneralProtection, selector);
        bool conforming = (loaded.Type & 4) != 0;
        int rpl = selector & 3;
        if (conforming ? loaded.Dpl > _cpl : rpl > _cpl || loaded.Dpl != _cpl)
            throw SelectorFault(X86.VectorGeneralProtection, selector);
        if (!loaded.Present) throw SelectorFault(X86.VectorSegmentNotPresent, selector);
        if (_longMode && loaded.L && loaded.Db) throw SelectorFault(X86.VectorGeneralProtection, selector);
        return loaded;
    }

    private void FarJump(ushort selector, ulong offset)
    {
        if (!_protectedMode || (Rflags & X86.FlagVm86) != 0)
        {
            ref SegmentCache cs = ref Segments[(int)SegmentIndex.CS];
            cs.Selector = selector;
            cs.Base = (ulong)selector << 4;
            _nextRip = offset & 0xFFFFFFFF;
            RefreshMode();
            _endBlock = true;
            return;
        }
        SegmentCache loaded = CheckFarCodeTarget(selector, out ulong address, out ulong raw);
        bool target64 = _longMode && loaded.L;
        if (!target64 && offset > loaded.Limit) throw Gp0();
        SetDescriptorAccessed(address, raw);
        CommitCodeSegment(loaded, selector, _cpl);
        _nextRip = target64 ? offset : offset & 0xFFFFFFFF;
    }

    private void FarCall(ushort selector, ulong offset, int operandSize)
    {
        ushort returnSelector = Segments[(int)SegmentIndex.CS].Selector;
        ulong returnOffset = _nextRip;
        if (!_protectedMode || (Rflags & X86.FlagVm86) != 0)
        {
            ulong pointer = StackPointer;
            ulong mask = StackMask;
            WriteMemory((int)SegmentIndex.SS, (pointer - (ulong)operandSize) & mask, operandSize, returnSelector);
            WriteMemory((int)SegmentIndex.SS, (pointer - 2UL * (ulong)operandSize) & mask, operandSize, returnOffset);
            SetStackPointer(pointer - 2UL * (ulong)operandSize);
            FarJump(selector, offset);
            return;
        }
        SegmentCache loaded = CheckFarCodeTarget(selector, out ulong address, out ulong raw);
        bool target64 = _longMode && loaded.L;
        if (!target64 && offset > loaded.Limit) throw Gp0();
        ulong sp = StackPointer;
        ulong stackMask = StackMask;
        WriteMemory((int)SegmentIndex.SS, (sp - (ulong)operandSize) & stackMask, operandSize, returnSelector);
        WriteMemory((int)SegmentIndex.SS, (sp - 2UL * (ulong)operandSize) & stackMask, operandSize, returnOffset);
        SetStackPointer(sp - 2UL * (ulong)operandSize);
        SetDescriptorAccessed(address, raw);
        CommitCodeSegment(loaded, selector, _cpl);
        _nextRip = target64 ? offset : offset & 0xFFFFFFFF;
    }

    private void ExecuteFarReturn(ref Instruction instruction)
    {
        int size = StackOperandSize(ref instruction);
        if (size == 0) size = _mode64 ? 4 : _bitness / 8;
        ulong release = instruction.OpCount > 0 ? instruction.Immediate16 : 0UL;
        ulong offset = PeekStack(0, size);
        ushort selector = (ushort)PeekStack((ulong)size, size);
        if (!_protectedMode || (Rflags & X86.FlagVm86) != 0)
        {
            SetStackPointer(StackPointer + 2UL * (ulong)size + release);
            FarJump(selector, offset);
            return;
        }
        if ((selector & 0xFFFC) == 0) throw Gp0();
        ulong raw = ReadDescriptor(selector, out ulong address);
        SegmentCache loaded = DescriptorToCache(raw, selector);
        int rpl = selector & 3;
        if (!loaded.S || !loaded.IsCode || rpl < _cpl) throw SelectorFault(X86.VectorGeneralProtection, selector);
        bool conforming = (loaded.Type & 4) != 0;
        if (conforming ? loaded.Dpl > rpl : loaded.Dpl != rpl) throw SelectorFault(X86.VectorGeneralProtection, selector);
        if (!loaded.Present) throw SelectorFault(X86.VectorSegmentNotPresent, selector);
        bool target64 = _longMode && loaded.L;
        if (rpl == _cpl)
        {
            SetStackPointer(StackPointer + 2UL * (ulong)size + release);
            SetDescriptorAccessed(address, raw);
            CommitCodeSegment(loaded, selector, rpl);
            _nextRip = target64 ? offset : offset & 0xFFFFFFFF;
            return;
        }
        // Return to an outer privilege level: the caller's SS:RSP follow.
        ulong newSp = PeekStack(2UL * (ulong)size + release, size);
        ushort newSs = (ushort)PeekStack(3UL * (ulong)size + release, size);
        SetDescriptorAccessed(address, raw);
        CommitCodeSegment(loaded, selector, rpl);
        LoadStackSegmentForPrivilege(newSs, rpl);
        Gpr[4] = _mode64 ? newSp + release : (newSp + release) & 0xFFFFFFFF;
        _nextRip = target64 ? offset : offset & 0xFFFFFFFF;
        InvalidateDataSegmentsForPrivilege();
        InterruptShadow &= unchecked((byte)~X86.ShadowMovSs);
    }

    /// <summary>Loads SS for a privilege change (IRET, RETF, interrupt delivery); the CPL becomes <paramref name="privilege"/>.</summary>
    private void LoadStackSegmentForPrivilege(ushort selector, int privilege)
    {
        ref SegmentCache ss = ref Segments[(int)SegmentIndex.SS];
        if ((selector & 0xFFFC) == 0)
        {
            if (!(_longMode && privilege != 3)) throw Gp0();
            ss = new SegmentCache { Selector = selector, Unusable = true, Dpl = (byte)privilege, Db = true, S = true, Type = 3 };
            RefreshMode();
            return;
        }
        ulong raw = ReadDescriptor(selector, out ulong address);
        SegmentCache loaded = DescriptorToCache(raw, selector);
        if ((selector & 3) != privilege || loaded.Dpl != privilege || !loaded.S || loaded.IsCode || (loaded.Type & 2) == 0)
            throw SelectorFault(X86.VectorGeneralProtection, selector);
        if (!loaded.Present) throw SelectorFault(X86.VectorStackFault, selector);
        SetDescriptorAccessed(address, raw);
        loaded.Type |= 1;
        ss = loaded;
        RefreshMode();
    }

    /// <summary>After returning to an outer level, data segments the new CPL may not use become null.</summary>
    private void InvalidateDataSegmentsForPrivilege()
    {
        foreach (SegmentIndex index in (ReadOnlySpan<SegmentIndex>)[SegmentIndex.ES, SegmentIndex.DS, SegmentIndex.FS, SegmentIndex.GS])
        {
            ref SegmentCache segment = ref Segments[(int)index];
            bool conformingCode = segment.IsCode && (segment.Type & 4) != 0;
            if (!segment.Unusable && segment.S && !conformingCode && segment.Dpl < _cpl)
            {
                segment.Selector = 0;
                segment.Unusable = true;
            }
        }
    }

    // ---- Descriptor tables ----------------------------------------------------------------------

    private void ExecuteLoadDescriptorTable(ref Instruction instruction)
    {
        RequireCpl0();
        int segment = MemorySegment(ref instruction);
        ulong address = EffectiveAddress(ref instruction);
        ushort limit = (ushort)ReadMemory(segment, address, 2);
        ulong baseAddress;
        if (_mode64)
        {
            baseAddress = ReadMemory(segment, address + 2, 8);
        }
        else
        {
            baseAddress = ReadMemory(segment, (address + 2) & 0xFFFFFFFF, 4);
            if (IsOperandSize16(ref instruction))
                baseAddress &= 0xFFFFFF;
        }
        if (instruction.Mnemonic == Mnemonic.Lgdt) Gdtr = new DescriptorTable { Base = baseAddress, Limit = limit };
        else Idtr = new DescriptorTable { Base = baseAddress, Limit = limit };
    }

    private static bool IsOperandSize16(ref Instruction instruction) =>
        instruction.Code is Code.Lgdt_m1632_16 or Code.Lidt_m1632_16;

    private void ExecuteStoreDescriptorTable(ref Instruction instruction)
    {
        if ((Cr4 & X86.Cr4Umip) != 0 && _cpl > 0) throw Gp0();
        DescriptorTable table = instruction.Mnemonic == Mnemonic.Sgdt ? Gdtr : Idtr;
        int segment = MemorySegment(ref instruction);
        ulong address = EffectiveAddress(ref instruction);
        int baseSize = _mode64 ? 8 : 4;
        // Probe the whole operand before writing any of it.
        ToLinear(segment, address, 2 + baseSize, AccessKind.Write);
        WriteMemory(segment, address, 2, table.Limit);
        WriteMemory(segment, _mode64 ? address + 2 : (address + 2) & 0xFFFFFFFF, baseSize, table.Base);
    }

    private void ExecuteLldt(ref Instruction instruction)
    {
        if (!_protectedMode || (Rflags & X86.FlagVm86) != 0) throw Ud();
        RequireCpl0();
        ushort selector = (ushort)ReadOperand(ref instruction, 0, 2);
        ref SegmentCache ldtr = ref Segments[(int)SegmentIndex.Ldtr];
        if ((selector & 0xFFFC) == 0)
        {
            ldtr = new SegmentCache { Selector = selector, Unusable = true };
            return;
        }
        if ((selector & 4) != 0) throw SelectorFault(X86.VectorGeneralProtection, selector);
        ulong raw = ReadDescriptor(selector, out ulong address);
        SegmentCache loaded = DescriptorToCache(raw, selector);
        if (loaded.S || loaded.Type != 2) throw SelectorFault(X86.VectorGeneralProtection, selector);
        if (!loaded.Present) throw SelectorFault(X86.VectorSegmentNotPresent, selector);
        if (_longMode) loaded.Base |= ReadSystem(address + 8, 4) << 32;
        ldtr = loaded;
    }

    private void ExecuteLtr(ref Instruction instruction)
    {
        if (!_protectedMode || (Rflags & X86.FlagVm86) != 0) throw Ud();
        RequireCpl0();
        ushort selector = (ushort)ReadOperand(ref instruction, 0, 2);
        if ((selector & 0xFFFC) == 0 || (selector & 4) != 0) throw SelectorFault(X86.VectorGeneralProtection, selector);
        ulong raw = ReadDescriptor(selector, out ulong address);
        SegmentCache loaded = DescriptorToCache(raw, selector);
        bool availableTss = !loaded.S && (loaded.Type == 9 || (!_longMode && loaded.Type == 1));
        if (!availableTss) throw SelectorFault(X86.VectorGeneralProtection, selector);
        if (!loaded.Present) throw SelectorFault(X86.VectorSegmentNotPresent, selector);
        if (_longMode) loaded.Base |= ReadSystem(address + 8, 4) << 32;
        WriteSystem(address + 5, 1, (raw >> 40) | 2); // mark busy
        loaded.Type |= 2;
        Segments[(int)SegmentIndex.Tr] = loaded;
    }

    private void ExecuteStoreSystemSelector(ref Instruction instruction, SegmentIndex index)
    {
        if (!_protectedMode || (Rflags & X86.FlagVm86) != 0) throw Ud();
        if ((Cr4 & X86.Cr4Umip) != 0 && _cpl > 0) throw Gp0();
        ulong selector = Segments[(int)index].Selector;
        if (instruction.Op0Kind == OpKind.Register) WriteRegister(instruction.Op0Register, selector);
        else WriteOperand(ref instruction, 0, 2, selector);
    }

    private void ExecuteLarLsl(ref Instruction instruction)
    {
        if (!_protectedMode || (Rflags & X86.FlagVm86) != 0) throw Ud();
        ushort selector = (ushort)ReadOperand(ref instruction, 1, 2);
        bool valid = false;
        ulong raw = 0;
        if ((selector & 0xFFFC) != 0)
        {
            bool local = (selector & 4) != 0;
            uint limit = local ? Segments[(int)SegmentIndex.Ldtr].Limit : Gdtr.Limit;
            if ((ulong)(selector & 0xFFF8) + 7 <= limit)
            {
                raw = ReadDescriptor(selector, out _);
                SegmentCache d = DescriptorToCache(raw, selector);
                bool conformingCode = d.IsCode && (d.Type & 4) != 0;
                bool typeOk = d.S || instruction.Mnemonic == Mnemonic.Lar
                    ? d.S || d.Type is 1 or 2 or 3 or 4 or 5 or 9 or 0xB or 0xC
                    : d.Type is 1 or 2 or 3 or 9 or 0xB;
                if (_longMode && !d.S) typeOk = d.Type is 2 or 9 or 0xB || (instruction.Mnemonic == Mnemonic.Lar && d.Type == 0xC);
                valid = typeOk && (conformingCode || (d.Dpl >= _cpl && d.Dpl >= (selector & 3)));
                if (valid)
                {
                    ulong result = instruction.Mnemonic == Mnemonic.Lar ? (raw >> 32) & 0x00F0FF00 : d.Limit;
                    WriteRegister(instruction.Op0Register, result);
                }
            }
        }
        Rflags = valid ? Rflags | X86.FlagZero : Rflags & ~X86.FlagZero;
    }

    private void ExecuteVerify(ref Instruction instruction)
    {
        if (!_protectedMode || (Rflags & X86.FlagVm86) != 0) throw Ud();
        ushort selector = (ushort)ReadOperand(ref instruction, 0, 2);
        bool ok = false;
        if ((selector & 0xFFFC) != 0)
        {
            bool local = (selector & 4) != 0;
            uint limit = local ? Segments[(int)SegmentIndex.Ldtr].Limit : Gdtr.Limit;
            if ((ulong)(selector & 0xFFF8) + 7 <= limit)
            {
                SegmentCache d = DescriptorToCache(ReadDescriptor(selector, out _), selector);
                bool conformingCode = d.IsCode && (d.Type & 4) != 0;
                bool privilegeOk = conformingCode || (d.Dpl >= _cpl && d.Dpl >= (selector & 3));
                ok = d.S && privilegeOk && (instruction.Mnemonic == Mnemonic.Verr
                    ? !d.IsCode || (d.Type & 2) != 0
                    : !d.IsCode && (d.Type & 2) != 0);
            }
        }
        Rflags = ok ? Rflags | X86.FlagZero : Rflags & ~X86.FlagZero;
    }

    /// <summary>
    /// ARPL: raises the destination selector's RPL to the source's, reporting in ZF whether it did. Only a raise writes:
    /// an operand already at or above the source RPL is left as read.
    /// </summary>
    private void ExecuteArpl(ref Instruction instruction)
    {
        if (!_protectedMode || (Rflags & X86.FlagVm86) != 0) throw Ud();
        ulong destination = ReadOperand(ref instruction, 0, 2) & 0xFFFF;
        ulong sourceRpl = ReadRegister(instruction.Op1Register) & 3;
        if ((destination & 3) < sourceRpl)
        {
            ulong raised = (destination & ~3UL) | sourceRpl;
            if (instruction.Op0Kind == OpKind.Register)
                WriteRegister(instruction.Op0Register.GetSize() == 4 ? instruction.Op0Register - Register.EAX + Register.AX : instruction.Op0Register, raised);
            else
                WriteOperand(ref instruction, 0, 2, raised);
            Rflags |= X86.FlagZero;
        }
        else
        {
            Rflags &= ~X86.FlagZero;
        }
    }
}
