using Iced.Intel;

namespace KvmSharp.Soft.Cpu;

/// <summary>Where an event comes from; decides the gate DPL check, the return address and double-fault rules.</summary>
internal enum InterruptSourceKind : byte
{
    External,
    Nmi,
    Exception,
    /// <summary>INT n.</summary>
    SoftwareInt,
    /// <summary>INT3, INTO: gate DPL checked, return to the next instruction.</summary>
    SoftwareException,
    /// <summary>INT1 (ICEBP): no DPL check.</summary>
    PrivilegedSoftwareException,
}

public sealed unsafe partial class X86Cpu
{
    /// <summary>Delivers injected exception, NMI or interrupt at an instruction boundary. True when something was delivered.</summary>
    private bool DeliverPendingEvents()
    {
        if (PendingExceptionVector >= 0)
        {
            byte vector = (byte)PendingExceptionVector;
            PendingExceptionVector = -1;
            _instructionRip = Rip;
            if (vector == X86.VectorPageFault) _faultLinearAddress = Cr2;
            DeliverException(vector, PendingExceptionErrorCode, PendingExceptionHasErrorCode, InterruptSourceKind.Exception);
            return true;
        }
        if (InterruptShadow != 0)
            return false;
        if (NmiPending && !NmiMasked)
        {
            NmiPending = false;
            _instructionRip = Rip;
            DeliverException(X86.VectorNmi, 0, false, InterruptSourceKind.Nmi);
            return true;
        }
        if ((Rflags & X86.FlagInterrupt) == 0)
            return false;
        if (PendingInterruptVector >= 0)
        {
            byte vector = (byte)PendingInterruptVector;
            PendingInterruptVector = -1;
            _instructionRip = Rip;
            DeliverException(vector, 0, false, InterruptSourceKind.External);
            return true;
        }
        if (_interruptSignaled && InterruptSource != null)
        {
            _interruptSignaled = false;
            if (InterruptSource.TryAcknowledge(out byte vector))
            {
                _interruptSignaled = true;
                _instructionRip = Rip;
                DeliverException(vector, 0, false, InterruptSourceKind.External);
                return true;
            }
        }
        return false;
    }

    private static bool IsContributory(byte vector) =>
        vector is X86.VectorDivideError or X86.VectorInvalidTss or X86.VectorSegmentNotPresent or X86.VectorStackFault or X86.VectorGeneralProtection;

    /// <summary>Delivers an event through the IDT/IVT applying the double-fault and triple-fault rules.</summary>
    private void DeliverException(byte vector, uint errorCode, bool hasErrorCode, InterruptSourceKind kind)
    {
        if (kind == InterruptSourceKind.Exception && vector == X86.VectorPageFault)
            Cr2 = _faultLinearAddress;
        try
        {
            DeliverThroughTable(vector, errorCode, hasErrorCode, kind, Rip);
        }
        catch (GuestFault second)
        {
            if (vector == X86.VectorDoubleFault && kind == InterruptSourceKind.Exception)
            {
                SetExit(CpuExitReason.Shutdown);
                return;
            }
            bool firstIsException = kind == InterruptSourceKind.Exception;
            bool doubleFault = firstIsException &&
                ((IsContributory(vector) && IsContributory(second.Vector)) ||
                 (vector == X86.VectorPageFault && (IsContributory(second.Vector) || second.Vector == X86.VectorPageFault)));
            if (doubleFault)
                DeliverException(X86.VectorDoubleFault, 0, true, InterruptSourceKind.Exception);
            else
                DeliverException(second.Vector, second.ErrorCode, second.HasErrorCode, InterruptSourceKind.Exception);
        }
    }

    /// <summary>INT n / INT3 / INTO from inside an instruction: returns to the next instruction; faults propagate as the instruction's fault.</summary>
    private void RaiseSoftwareInterrupt(byte vector, InterruptSourceKind kind)
    {
        if (kind == InterruptSourceKind.SoftwareInt && (Rflags & X86.FlagVm86) != 0 && Iopl < 3) throw Gp0();
        DeliverThroughTable(vector, 0, false, kind, _nextRip);
    }

    private void ExecuteInt3()
    {
        if (GuestDebug.Enabled && GuestDebug.UseSoftwareBreakpoints)
        {
            // KVM reports the INT3 itself: RIP stays on it.
            Exit.DebugException = X86.VectorBreakpoint;
            Exit.DebugPc = LinearRip();
            Exit.DebugDr6 = Dr6;
            _nextRip = _instructionRip;
            _notRetired = true;
            SetExit(CpuExitReason.Debug);
            return;
        }
        RaiseSoftwareInterrupt(X86.VectorBreakpoint, InterruptSourceKind.SoftwareException);
    }

    /// <summary>
    /// The RFLAGS image an exception frame holds: for a fault the processor sets
    /// RF in it (so the IRET back does not re-raise an instruction breakpoint),
    /// except for the instruction-breakpoint #DB itself; traps and interrupts
    /// push RFLAGS as it is.
    /// </summary>
    private ulong FlagsForFrame(byte vector, InterruptSourceKind kind) =>
        kind == InterruptSourceKind.Exception && IsFaultClass(vector) ? Rflags | X86.FlagResume : Rflags;

    private static bool IsFaultClass(byte vector) => vector is 0 or 5 or 6 or 7 or 10 or 11 or 12 or 13 or 14 or 16 or 17 or 19 or 20 or 21;

    private void DeliverThroughTable(byte vector, uint errorCode, bool hasErrorCode, InterruptSourceKind kind, ulong returnRip)
    {
        if (!_protectedMode)
            DeliverRealMode(vector, returnRip);
        else if (_longMode)
            DeliverLongMode(vector, errorCode, hasErrorCode, kind, returnRip);
        else
            DeliverProtectedMode(vector, errorCode, hasErrorCode, kind, returnRip);

        if (kind == InterruptSourceKind.Nmi) NmiMasked = true;
        _verifyEpoch++;
        Halted = false;
        InterruptShadow = 0;
        _endBlock = true;
    }

    private void DeliverRealMode(byte vector, ulong returnRip)
    {
        ulong entry = (ulong)vector * 4;
        if (entry + 3 > Idtr.Limit) throw Fault(X86.VectorGeneralProtection, (uint)vector * 8 + 2);
        ulong handler = ReadSystem(Idtr.Base + entry, 4);
        ulong sp = StackPointer;
        ulong mask = StackMask;
        WriteMemory((int)SegmentIndex.SS, (sp - 2) & mask, 2, Rflags);
        WriteMemory((int)SegmentIndex.SS, (sp - 4) & mask, 2, Segments[(int)SegmentIndex.CS].Selector);
        WriteMemory((int)SegmentIndex.SS, (sp - 6) & mask, 2, returnRip);
        SetStackPointer(sp - 6);
        Rflags &= ~(X86.FlagInterrupt | X86.FlagTrap | X86.FlagAlignmentCheck | X86.FlagResume);
        ref SegmentCache cs = ref Segments[(int)SegmentIndex.CS];
        cs.Selector = (ushort)(handler >> 16);
        cs.Base = (ulong)cs.Selector << 4;
        Rip = _nextRip = handler & 0xFFFF;
        RefreshMode();
    }

    private SegmentCache ReadGateTarget(ushort selector, out int newCpl)
    {
        if ((selector & 0xFFFC) == 0) throw Gp0();
        ulong raw = ReadDescriptor(selector, out ulong address);
        SegmentCache code = DescriptorToCache(raw, selector);
        if (!code.IsCode || code.Dpl > _cpl) throw SelectorFault(X86.VectorGeneralProtection, selector);
        if (!code.Present) throw SelectorFault(X86.VectorSegmentNotPresent, selector);
        bool conforming = (code.Type & 4) != 0;
        newCpl = conforming ? _cpl : code.Dpl;
        SetDescriptorAccessed(address, raw);
        code.Type |= 1;
        code.Selector = (ushort)((selector & 0xFFFC) | newCpl);
        return code;
    }

    private void CheckGate(byte vector, ulong gateLow, InterruptSourceKind kind)
    {
        int gateDpl = (int)((gateLow >> 45) & 3);
        bool software = kind is InterruptSourceKind.SoftwareInt or InterruptSourceKind.SoftwareException;
        if (software && gateDpl < _cpl) throw Fault(X86.VectorGeneralProtection, (uint)vector * 8 + 2);
        if (((gateLow >> 47) & 1) == 0) throw Fault(X86.VectorSegmentNotPresent, (uint)vector * 8 + 2);
    }

    private void DeliverLongMode(byte vector, uint errorCode, bool hasErrorCode, InterruptSourceKind kind, ulong returnRip)
    {
        ulong entry = (ulong)vector * 16;
        if (entry + 15 > Idtr.Limit) throw Fault(X86.VectorGeneralProtection, (uint)vector * 8 + 2);
        ulong low = ReadSystem(Idtr.Base + entry, 8);
        ulong high = ReadSystem(Idtr.Base + entry + 8, 8);
        int type = (int)((low >> 40) & 0x1F);
        if (type != 0xE && type != 0xF) throw Fault(X86.VectorGeneralProtection, (uint)vector * 8 + 2);
        CheckGate(vector, low, kind);
        ushort selector = (ushort)(low >> 16);
        ulong target = (low & 0xFFFF) | ((low >> 32) & 0xFFFF0000) | (high << 32);
        int ist = (int)((low >> 32) & 7);
        int oldCpl = _cpl;
        SegmentCache code = ReadGateTarget(selector, out int newCpl);
        if (!code.L || code.Db) throw SelectorFault(X86.VectorGeneralProtection, selector);
        if (!IsCanonical(target)) throw Gp0();

        ulong newRsp;
        if (ist != 0) newRsp = ReadTss64(0x24 + (ulong)(ist - 1) * 8);
        else if (newCpl < oldCpl) newRsp = ReadTss64(4 + (ulong)newCpl * 8);
        else newRsp = Gpr[4];
        newRsp &= ~0xFUL;
        if (!IsCanonical(newRsp)) throw Fault(X86.VectorStackFault, 0);

        ulong frameSize = hasErrorCode ? 48UL : 40UL;
        ulong frame = newRsp - frameSize;
        bool saved = _systemAccess;
        _systemAccess = newCpl < 3;
        try
        {
            int i = 0;
            if (hasErrorCode) WriteLinear(frame + (ulong)(8 * i++), 8, errorCode);
            WriteLinear(frame + (ulong)(8 * i++), 8, returnRip);
            WriteLinear(frame + (ulong)(8 * i++), 8, Segments[(int)SegmentIndex.CS].Selector);
            WriteLinear(frame + (ulong)(8 * i++), 8, FlagsForFrame(vector, kind));
            WriteLinear(frame + (ulong)(8 * i++), 8, Gpr[4]);
            WriteLinear(frame + (ulong)(8 * i), 8, Segments[(int)SegmentIndex.SS].Selector);
        }
        finally
        {
            _systemAccess = saved;
        }

        if (newCpl != oldCpl)
            Segments[(int)SegmentIndex.SS] = new SegmentCache { Selector = (ushort)newCpl, Unusable = true, Dpl = (byte)newCpl, S = true, Type = 3, Db = true };
        Segments[(int)SegmentIndex.CS] = code;
        Gpr[4] = frame;
        ClearFlagsForGate(type);
        Rip = _nextRip = target;
        RefreshMode();
    }

    private ulong ReadTss64(ulong offset)
    {
        ref SegmentCache tr = ref Segments[(int)SegmentIndex.Tr];
        if (offset + 7 > tr.Limit) throw Fault(X86.VectorInvalidTss, tr.Selector & 0xFFFCu);
        return ReadSystem(tr.Base + offset, 8);
    }

    private void ClearFlagsForGate(int gateType)
    {
        Rflags &= ~(X86.FlagTrap | X86.FlagNestedTask | X86.FlagResume | X86.FlagVm86);
        if ((gateType & 1) == 0) Rflags &= ~X86.FlagInterrupt;
    }

    private void DeliverProtectedMode(byte vector, uint errorCode, bool hasErrorCode, InterruptSourceKind kind, ulong returnRip)
    {
        if ((Rflags & X86.FlagVm86) != 0) throw new UnsupportedInstructionException("interrupt delivery from virtual-8086 mode");
        ulong entry = (ulong)vector * 8;
        if (entry + 7 > Idtr.Limit) throw Fault(X86.VectorGeneralProtection, (uint)vector * 8 + 2);
        ulong gate = ReadSystem(Idtr.Base + entry, 8);
        int type = (int)((gate >> 40) & 0x1F);
        if (type == 5) throw new UnsupportedInstructionException($"task gate for vector {vector}");
        if (type is not (6 or 7 or 0xE or 0xF)) throw Fault(X86.VectorGeneralProtection, (uint)vector * 8 + 2);
        CheckGate(vector, gate, kind);
        bool gate32 = (type & 8) != 0;
        int width = gate32 ? 4 : 2;
        ushort selector = (ushort)(gate >> 16);
        ulong target = (gate & 0xFFFF) | (gate32 ? (gate >> 32) & 0xFFFF0000 : 0);
        int oldCpl = _cpl;
        SegmentCache code = ReadGateTarget(selector, out int newCpl);
        if (target > code.Limit) throw Gp0();

        SegmentCache stack = Segments[(int)SegmentIndex.SS];
        ulong sp = StackPointer;
        bool privilegeChange = newCpl < oldCpl;
        if (privilegeChange)
        {
            ref SegmentCache tr = ref Segments[(int)SegmentIndex.Tr];
            bool tss32 = (tr.Type & 8) != 0;
            ulong spOffset = tss32 ? 4 + (ulong)newCpl * 8 : 2 + (ulong)newCpl * 4;
            ulong ssOffset = tss32 ? spOffset + 4 : spOffset + 2;
            if (ssOffset + 1 > tr.Limit) throw Fault(X86.VectorInvalidTss, tr.Selector & 0xFFFCu);
            sp = ReadSystem(tr.Base + spOffset, tss32 ? 4 : 2);
            ushort ssSelector = (ushort)ReadSystem(tr.Base + ssOffset, 2);
            if ((ssSelector & 0xFFFC) == 0) throw Fault(X86.VectorInvalidTss, ssSelector & 0xFFFCu);
            ulong raw = ReadDescriptor(ssSelector, out _, X86.VectorInvalidTss);
            stack = DescriptorToCache(raw, ssSelector);
            if ((ssSelector & 3) != newCpl || stack.Dpl != newCpl || !stack.S || stack.IsCode || (stack.Type & 2) == 0)
                throw Fault(X86.VectorInvalidTss, ssSelector & 0xFFFCu);
            if (!stack.Present) throw Fault(X86.VectorStackFault, ssSelector & 0xFFFCu);
            stack.Type |= 1;
        }
        ulong stackMask = stack.Db ? 0xFFFFFFFFUL : 0xFFFFUL;
        Span<ulong> values = stackalloc ulong[6];
        int count = 0;
        if (privilegeChange)
        {
            values[count++] = Segments[(int)SegmentIndex.SS].Selector;
            values[count++] = Gpr[4];
        }
        values[count++] = FlagsForFrame(vector, kind);
        values[count++] = Segments[(int)SegmentIndex.CS].Selector;
        values[count++] = returnRip;
        if (hasErrorCode) values[count++] = errorCode;

        bool saved = _systemAccess;
        _systemAccess = newCpl < 3;
        try
        {
            ulong pointer = sp;
            for (int i = 0; i < count; i++)
            {
                pointer = (pointer - (ulong)width) & stackMask;
                WriteLinear((stack.Base + pointer) & 0xFFFFFFFF, width, values[i]);
            }
            sp = pointer;
        }
        finally
        {
            _systemAccess = saved;
        }

        Segments[(int)SegmentIndex.SS] = stack;
        Segments[(int)SegmentIndex.CS] = code;
        if (stack.Db) Gpr[4] = sp & 0xFFFFFFFF;
        else Gpr[4] = (Gpr[4] & ~0xFFFFUL) | (sp & 0xFFFF);
        ClearFlagsForGate(type);
        Rip = _nextRip = target;
        RefreshMode();
    }

    // ---- IRET -----------------------------------------------------------------------------------

    private void ExecuteIret(ref Instruction instruction)
    {
        int size = instruction.Code switch { Code.Iretw => 2, Code.Iretd => 4, _ => 8 };
        if (!_protectedMode)
        {
            ulong ip = PeekStack(0, size);
            ushort cs = (ushort)PeekStack((ulong)size, size);
            ulong flags = PeekStack(2UL * (ulong)size, size);
            SetStackPointer(StackPointer + 3UL * (ulong)size);
            ulong mask = size == 2 ? 0xFFFFUL : 0x257FD5UL;
            Rflags = (Rflags & ~mask) | (flags & mask) | X86.FlagReserved1;
            ref SegmentCache realCs = ref Segments[(int)SegmentIndex.CS];
            realCs.Selector = cs;
            realCs.Base = (ulong)cs << 4;
            _nextRip = ip & 0xFFFF;
            NmiMasked = false;
            RefreshMode();
            _endBlock = true;
            return;
        }
        if ((Rflags & X86.FlagVm86) != 0) throw new UnsupportedInstructionException("IRET in virtual-8086 mode");
        if ((Rflags & X86.FlagNestedTask) != 0 && !_longMode) throw new UnsupportedInstructionException("IRET task return (NT=1)");

        ulong newRip = PeekStack(0, size);
        ushort selector = (ushort)PeekStack((ulong)size, size);
        ulong newFlags = PeekStack(2UL * (ulong)size, size);
        int rpl = selector & 3;
        if ((selector & 0xFFFC) == 0) throw Gp0();
        if (rpl < _cpl) throw SelectorFault(X86.VectorGeneralProtection, selector);
        ulong raw = ReadDescriptor(selector, out ulong address);
        SegmentCache code = DescriptorToCache(raw, selector);
        if (!code.S || !code.IsCode) throw SelectorFault(X86.VectorGeneralProtection, selector);
        bool conforming = (code.Type & 4) != 0;
        if (conforming ? code.Dpl > rpl : code.Dpl != rpl) throw SelectorFault(X86.VectorGeneralProtection, selector);
        if (!code.Present) throw SelectorFault(X86.VectorSegmentNotPresent, selector);
        if (!_longMode && (newFlags & X86.FlagVm86) != 0 && _cpl == 0 && size == 4)
            throw new UnsupportedInstructionException("IRET to virtual-8086 mode");
        bool target64 = _longMode && code.L;
        if (target64 && code.Db) throw SelectorFault(X86.VectorGeneralProtection, selector);
        if (target64 ? !IsCanonical(newRip) : newRip > code.Limit) throw Gp0();

        bool popStack = _mode64 || rpl > _cpl;
        ulong newRsp = 0;
        ushort newSs = 0;
        if (popStack)
        {
            newRsp = PeekStack(3UL * (ulong)size, size);
            newSs = (ushort)PeekStack(4UL * (ulong)size, size);
        }

        int oldCpl = _cpl;
        ulong modifiable = X86.ArithmeticFlags | X86.FlagTrap | X86.FlagDirection | X86.FlagNestedTask | X86.FlagResume |
            X86.FlagAlignmentCheck | X86.FlagId | X86.FlagVif | X86.FlagVip;
        if (oldCpl == 0) modifiable |= X86.FlagIopl;
        if (oldCpl <= Iopl) modifiable |= X86.FlagInterrupt;
        if (size == 2) modifiable &= 0xFFFF;

        SetDescriptorAccessed(address, raw);
        code.Type |= 1;
        code.Selector = selector;
        if (popStack)
        {
            SegmentCache savedCs = Segments[(int)SegmentIndex.CS];
            SegmentCache savedSs = Segments[(int)SegmentIndex.SS];
            Segments[(int)SegmentIndex.CS] = code;
            try
            {
                LoadStackSegmentForPrivilege(newSs, rpl);
            }
            catch (GuestFault)
            {
                Segments[(int)SegmentIndex.CS] = savedCs;
                Segments[(int)SegmentIndex.SS] = savedSs;
                RefreshMode();
                throw;
            }
            Gpr[4] = size == 2 ? (Gpr[4] & ~0xFFFFUL) | (newRsp & 0xFFFF) : size == 4 && !(_longMode && code.L) ? newRsp & 0xFFFFFFFF : newRsp;
        }
        else
        {
            Segments[(int)SegmentIndex.CS] = code;
            SetStackPointer(StackPointer + 3UL * (ulong)size);
        }
        Rflags = ((Rflags & ~modifiable) | (newFlags & modifiable) | X86.FlagReserved1) & ~X86.FlagVm86;
        RefreshMode();
        if (_cpl > oldCpl) InvalidateDataSegmentsForPrivilege();
        _nextRip = target64 ? newRip : newRip & 0xFFFFFFFF;
        NmiMasked = false;
        _endBlock = true;
    }

    // ---- Fast system calls ----------------------------------------------------------------------

    private static SegmentCache FlatSegment(ushort selector, bool code, int dpl, bool longCode) => new()
    {
        Selector = selector,
        Base = 0,
        Limit = 0xFFFFFFFF,
        Type = code ? (byte)0xB : (byte)3,
        S = true,
        Dpl = (byte)dpl,
        Present = true,
        L = longCode,
        Db = !longCode,
        G = true,
    };

    private void ExecuteSyscall()
    {
        if ((Efer & X86.EferSce) == 0 || !_protectedMode) throw Ud();
        ushort selector = (ushort)((Star >> 32) & 0xFFFC);
        if (_longMode)
        {
            Gpr[1] = _nextRip;
            Gpr[11] = Rflags & ~X86.FlagResume;
            _nextRip = _mode64 ? Lstar : Cstar;
            Segments[(int)SegmentIndex.CS] = FlatSegment(selector, code: true, dpl: 0, longCode: true);
            Segments[(int)SegmentIndex.SS] = FlatSegment((ushort)(selector + 8), code: false, dpl: 0, longCode: false);
            Rflags = (Rflags & ~Sfmask & ~X86.FlagResume) | X86.FlagReserved1;
        }
        else
        {
            Gpr[1] = _nextRip & 0xFFFFFFFF;
            _nextRip = Star & 0xFFFFFFFF;
            Segments[(int)SegmentIndex.CS] = FlatSegment(selector, code: true, dpl: 0, longCode: false);
            Segments[(int)SegmentIndex.SS] = FlatSegment((ushort)(selector + 8), code: false, dpl: 0, longCode: false);
            Rflags &= ~(X86.FlagVm86 | X86.FlagInterrupt | X86.FlagResume);
        }
        RefreshMode();
        _endBlock = true;
    }

    private void ExecuteSysret(ref Instruction instruction)
    {
        if ((Efer & X86.EferSce) == 0 || !_protectedMode) throw Ud();
        if (_cpl != 0 || !_longMode) throw Gp0();
        bool to64 = instruction.Code == Code.Sysretq;
        ushort baseSelector = (ushort)(Star >> 48);
        if (to64)
        {
            if (!IsCanonical(Gpr[1])) throw Gp0();
            Segments[(int)SegmentIndex.CS] = FlatSegment((ushort)((baseSelector + 16) | 3), code: true, dpl: 3, longCode: true);
            _nextRip = Gpr[1];
        }
        else
        {
            Segments[(int)SegmentIndex.CS] = FlatSegment((ushort)(baseSelector | 3), code: true, dpl: 3, longCode: false);
            _nextRip = Gpr[1] & 0xFFFFFFFF;
        }
        // SS keeps its old base/limit/attributes except the selector and DPL (Intel behaviour).
        ref SegmentCache ss = ref Segments[(int)SegmentIndex.SS];
        ss = FlatSegment((ushort)((baseSelector + 8) | 3), code: false, dpl: 3, longCode: false);
        Rflags = (Gpr[11] & 0x3C7FD7) | X86.FlagReserved1;
        RefreshMode();
        _endBlock = true;
    }

    private void ExecuteSysenter()
    {
        if (!_protectedMode || (SysenterCs & 0xFFFC) == 0) throw Gp0();
        ushort selector = (ushort)(SysenterCs & 0xFFFC);
        Rflags &= ~(X86.FlagVm86 | X86.FlagInterrupt | X86.FlagResume);
        Segments[(int)SegmentIndex.CS] = FlatSegment(selector, code: true, dpl: 0, longCode: _longMode);
        Segments[(int)SegmentIndex.SS] = FlatSegment((ushort)(selector + 8), code: false, dpl: 0, longCode: false);
        Gpr[4] = _longMode ? SysenterEsp : SysenterEsp & 0xFFFFFFFF;
        _nextRip = _longMode ? SysenterEip : SysenterEip & 0xFFFFFFFF;
        RefreshMode();
        _endBlock = true;
    }

    private void ExecuteSysexit(ref Instruction instruction)
    {
        if (!_protectedMode || (SysenterCs & 0xFFFC) == 0 || _cpl != 0) throw Gp0();
        bool to64 = instruction.Code == Code.Sysexitq;
        ushort selector = (ushort)(((SysenterCs & 0xFFFC) + (to64 ? 32UL : 16UL)) | 3);
        Segments[(int)SegmentIndex.CS] = FlatSegment(selector, code: true, dpl: 3, longCode: to64);
        Segments[(int)SegmentIndex.SS] = FlatSegment((ushort)(selector + 8), code: false, dpl: 3, longCode: false);
        Gpr[4] = to64 ? Gpr[1] : Gpr[1] & 0xFFFFFFFF;
        _nextRip = to64 ? Gpr[2] : Gpr[2] & 0xFFFFFFFF;
        RefreshMode();
        _endBlock = true;
    }
}
