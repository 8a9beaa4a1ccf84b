using Iced.Intel;

namespace KvmSharp.Soft.Cpu;

public sealed unsafe partial class X86Cpu
{
    private const ulong Cr4KnownBits = X86.Cr4Vme | X86.Cr4Pvi | X86.Cr4Tsd | X86.Cr4De | X86.Cr4Pse | X86.Cr4Pae | X86.Cr4Mce |
        X86.Cr4Pge | X86.Cr4Pce | X86.Cr4Osfxsr | X86.Cr4Osxmmexcpt | X86.Cr4Umip | X86.Cr4Fsgsbase | X86.Cr4Pcide |
        X86.Cr4Osxsave | X86.Cr4Smep | X86.Cr4Smap;

    // ---- Control registers ----------------------------------------------------------------------

    private void ExecuteMovToControlRegister(Register register, ulong value)
    {
        RequireCpl0();
        if (!_mode64) value &= 0xFFFFFFFF;
        switch (register)
        {
            case Register.CR0: WriteCr0(value); break;
            case Register.CR2: Cr2 = value; break;
            case Register.CR3: WriteCr3(value); break;
            case Register.CR4: WriteCr4(value); break;
            case Register.CR8:
                if ((value & ~0xFUL) != 0) throw Gp0();
                Cr8 = value;
                WriteTaskPriority?.Invoke(value);
                _endBlock = true;
                break;
            default: throw Ud();
        }
    }

    private void ExecuteMovFromControlRegister(Register destination, Register register)
    {
        RequireCpl0();
        ulong value = register switch
        {
            Register.CR0 => Cr0,
            Register.CR2 => Cr2,
            Register.CR3 => Cr3,
            Register.CR4 => Cr4,
            Register.CR8 => ReadTaskPriority != null ? ReadTaskPriority() & 0xF : Cr8,
            _ => throw Ud(),
        };
        WriteRegister(destination, _mode64 ? value : value & 0xFFFFFFFF);
    }

    /// <summary>MOV to CR0 with the architectural consistency checks; entering/leaving long mode happens here.</summary>
    private void WriteCr0(ulong value)
    {
        if ((value >> 32) != 0) throw Gp0();
        value |= X86.Cr0Et;
        if ((value & X86.Cr0Pg) != 0 && (value & X86.Cr0Pe) == 0) throw Gp0();
        if ((value & X86.Cr0Nw) != 0 && (value & X86.Cr0Cd) == 0) throw Gp0();
        bool enablingPaging = (value & X86.Cr0Pg) != 0 && (Cr0 & X86.Cr0Pg) == 0;
        bool disablingPaging = (value & X86.Cr0Pg) == 0 && (Cr0 & X86.Cr0Pg) != 0;
        if (enablingPaging && (Efer & X86.EferLme) != 0)
        {
            if ((Cr4 & X86.Cr4Pae) == 0) throw Gp0();
            if (Segments[(int)SegmentIndex.CS].L) throw Gp0();
            Efer |= X86.EferLma;
        }
        if (disablingPaging && (Efer & X86.EferLma) != 0)
        {
            if (_mode64) throw Gp0();
            Efer &= ~X86.EferLma;
        }
        ulong changed = Cr0 ^ value;
        Cr0 = value;
        if ((changed & (X86.Cr0Pg | X86.Cr0Wp | X86.Cr0Pe)) != 0) FlushTlb();
        RefreshMode();
        _endBlock = true;
    }

    private void WriteCr3(ulong value)
    {
        // With PCIDs, bit 63 asks to keep the new context's entries; this TLB is not tagged by PCID, so it must still
        // drop the old context's non-global entries.
        value &= ~(1UL << 63);
        if (_longMode && (value >> PhysicalAddressBits) != 0) throw Gp0();
        Cr3 = value;
        FlushTlbNonGlobal();
        _endBlock = true;
    }

    private void WriteCr4(ulong value)
    {
        if ((value & ~Cr4KnownBits) != 0) throw Gp0();
        if (_longMode && (value & X86.Cr4Pae) == 0) throw Gp0();
        if ((value & X86.Cr4Pcide) != 0 && (Cr4 & X86.Cr4Pcide) == 0 && (!_longMode || (Cr3 & 0xFFF) != 0)) throw Gp0();
        ulong changed = Cr4 ^ value;
        Cr4 = value;
        RefreshMode();
        if ((changed & (X86.Cr4Pge | X86.Cr4Pae | X86.Cr4Pse | X86.Cr4Smep | X86.Cr4Smap | X86.Cr4Pcide | X86.Cr4La57)) != 0) FlushTlb();
        _endBlock = true;
    }

    private void ExecuteSmsw(ref Instruction instruction)
    {
        if ((Cr4 & X86.Cr4Umip) != 0 && _cpl > 0) throw Gp0();
        if (instruction.Op0Kind == OpKind.Register) WriteRegister(instruction.Op0Register, Cr0);
        else WriteOperand(ref instruction, 0, 2, Cr0 & 0xFFFF);
    }

    private void ExecuteLmsw(ref Instruction instruction)
    {
        RequireCpl0();
        ulong value = ReadOperand(ref instruction, 0, 2) & 0xF;
        // LMSW can set PE but never clear it.
        value |= Cr0 & X86.Cr0Pe;
        WriteCr0((Cr0 & ~0xFUL) | value);
    }

    // ---- Debug registers ------------------------------------------------------------------------

    private void ExecuteMovToDebugRegister(Register register, ulong value)
    {
        RequireCpl0();
        if (!_mode64) value &= 0xFFFFFFFF;
        switch (register)
        {
            case Register.DR0: Dr0 = value; break;
            case Register.DR1: Dr1 = value; break;
            case Register.DR2: Dr2 = value; break;
            case Register.DR3: Dr3 = value; break;
            case Register.DR4 when (Cr4 & X86.Cr4De) == 0:
            case Register.DR6:
                if ((value >> 32) != 0) throw Gp0();
                Dr6 = (value & 0x1E00F) | X86.Dr6Fixed;
                break;
            case Register.DR5 when (Cr4 & X86.Cr4De) == 0:
            case Register.DR7:
                if ((value >> 32) != 0) throw Gp0();
                Dr7 = (value & 0xFFFF2BFF) | X86.Dr7Fixed;
                RefreshDataBreakpoints();
                break;
            default: throw Ud();
        }
        _endBlock = true;
    }

    private void ExecuteMovFromDebugRegister(Register destination, Register register)
    {
        RequireCpl0();
        ulong value = register switch
        {
            Register.DR0 => Dr0,
            Register.DR1 => Dr1,
            Register.DR2 => Dr2,
            Register.DR3 => Dr3,
            Register.DR4 when (Cr4 & X86.Cr4De) == 0 => Dr6,
            Register.DR6 => Dr6,
            Register.DR5 when (Cr4 & X86.Cr4De) == 0 => Dr7,
            Register.DR7 => Dr7,
            _ => throw Ud(),
        };
        WriteRegister(destination, value);
    }

    // ---- TLB control ----------------------------------------------------------------------------

    private void ExecuteInvlpg(ref Instruction instruction)
    {
        RequireCpl0();
        int segment = MemorySegment(ref instruction);
        ulong offset = EffectiveAddress(ref instruction);
        ulong linear = _mode64
            ? (segment >= (int)SegmentIndex.FS ? Segments[segment].Base : 0) + offset
            : (Segments[segment].Base + offset) & 0xFFFFFFFF;
        InvalidatePage(linear);
        _endBlock = true;
    }

    private void ExecuteInvpcid(ref Instruction instruction)
    {
        RequireCpl0();
        ulong type = ReadRegister(instruction.Op0Register);
        if (type > 3) throw Gp0();
        ulong linear = ReadMemory(MemorySegment(ref instruction), EffectiveAddress(ref instruction) + 8, 8);
        if (type == 0) InvalidatePage(linear);
        else if (type == 2) FlushTlb();
        else FlushTlbNonGlobal();
        _endBlock = true;
    }

    // ---- 64-bit segment bases -------------------------------------------------------------------

    private void ExecuteSwapgs()
    {
        if (!_mode64) throw Ud();
        RequireCpl0();
        ref SegmentCache gs = ref Segments[(int)SegmentIndex.GS];
        (gs.Base, KernelGsBase) = (KernelGsBase, gs.Base);
    }

    private void ExecuteFsGsBase(ref Instruction instruction)
    {
        if (!_mode64 || (Cr4 & X86.Cr4Fsgsbase) == 0) throw Ud();
        ref SegmentCache segment = ref Segments[instruction.Mnemonic is Mnemonic.Rdfsbase or Mnemonic.Wrfsbase ? (int)SegmentIndex.FS : (int)SegmentIndex.GS];
        if (instruction.Mnemonic is Mnemonic.Rdfsbase or Mnemonic.Rdgsbase)
        {
            WriteRegister(instruction.Op0Register, segment.Base);
            return;
        }
        ulong value = ReadRegister(instruction.Op0Register);
        if (!IsCanonical(value)) throw Gp0();
        segment.Base = value;
    }

    // ---- Extended state control -----------------------------------------------------------------

    private void ExecuteXgetbv()
    {
        if ((Cr4 & X86.Cr4Osxsave) == 0) throw Ud();
        uint index = (uint)Gpr[1];
        ulong value = index switch
        {
            0 => Xcr0,
            _ => throw Gp0(),
        };
        Gpr[0] = value & 0xFFFFFFFF;
        Gpr[2] = value >> 32;
    }

    private void ExecuteXsetbv()
    {
        if ((Cr4 & X86.Cr4Osxsave) == 0) throw Ud();
        RequireCpl0();
        uint index = (uint)Gpr[1];
        ulong value = (Gpr[2] << 32) | (Gpr[0] & 0xFFFFFFFF);
        if (index != 0) throw Gp0();
        // x87 must stay enabled, AVX needs SSE, and this CPU offers nothing beyond SSE/AVX state.
        if ((value & 1) == 0 || ((value & 4) != 0 && (value & 2) == 0) || (value & ~SupportedXcr0) != 0) throw Gp0();
        Xcr0 = value;
    }

    /// <summary>XCR0 bits the CPU accepts in XSETBV.</summary>
    public ulong SupportedXcr0 { get; set; } = 3;

    // ---- CPUID, TSC, MSRs, HLT ------------------------------------------------------------------

    private void ExecuteCpuid()
    {
        uint function = (uint)Gpr[0];
        uint index = (uint)Gpr[1];
        CpuidEntry entry = LookupCpuid(function, index);
        if (function == 1)
        {
            // OSXSAVE mirrors CR4.OSXSAVE; the APIC bit mirrors the APIC global enable.
            entry.Ecx = (Cr4 & X86.Cr4Osxsave) != 0 ? entry.Ecx | (1u << 27) : entry.Ecx & ~(1u << 27);
            if ((ApicBase & (1UL << 11)) == 0) entry.Edx &= ~(1u << 9);
        }
        Gpr[0] = entry.Eax;
        Gpr[3] = entry.Ebx;
        Gpr[1] = entry.Ecx;
        Gpr[2] = entry.Edx;
        // CPUID serializes: code modified by other CPUs must be seen after it.
        _endBlock = true;
    }

    /// <summary>
    /// Finds the answer for a leaf. Leaves beyond the maximum of their range answer with the highest basic leaf
    /// (what Intel CPUs and KVM do); leaves inside the range that are absent answer zeros.
    /// </summary>
    public CpuidEntry LookupCpuid(uint function, uint index)
    {
        if (TryFindCpuid(function, index, out CpuidEntry found)) return found;
        uint rangeBase = function & 0xFFFF0000;
        if (TryFindCpuid(rangeBase, 0, out CpuidEntry rangeHeader) && function <= rangeHeader.Eax)
            return default;
        if (TryFindCpuid(0, 0, out CpuidEntry basic) && TryFindCpuid(basic.Eax, index, out CpuidEntry highest))
            return highest;
        return default;
    }

    private bool TryFindCpuid(uint function, uint index, out CpuidEntry entry)
    {
        foreach (CpuidEntry candidate in Cpuid)
        {
            if (candidate.Function == function && (!candidate.IndexSignificant || candidate.Index == index))
            {
                entry = candidate;
                return true;
            }
        }
        entry = default;
        return false;
    }

    private void ExecuteRdtsc(bool withAux)
    {
        if ((Cr4 & X86.Cr4Tsd) != 0 && _cpl > 0) throw Gp0();
        ulong tsc = ReadTsc();
        Gpr[0] = tsc & 0xFFFFFFFF;
        Gpr[2] = tsc >> 32;
        if (withAux) Gpr[1] = TscAux & 0xFFFFFFFF;
    }

    private void ExecuteRdmsr()
    {
        RequireCpl0();
        uint msr = (uint)Gpr[1];
        if (!TryReadMsr(msr, out ulong value)) throw Gp0();
        Gpr[0] = value & 0xFFFFFFFF;
        Gpr[2] = value >> 32;
    }

    private void ExecuteWrmsr()
    {
        RequireCpl0();
        uint msr = (uint)Gpr[1];
        ulong value = (Gpr[2] << 32) | (Gpr[0] & 0xFFFFFFFF);
        if (!TryWriteMsr(msr, value)) throw Gp0();
        _endBlock = true;
    }

    /// <summary>Reads an MSR as RDMSR would (also serves KVM_GET_MSRS). False means #GP.</summary>
    public bool TryReadMsr(uint msr, out ulong value)
    {
        switch (msr)
        {
            case X86.MsrTsc: value = ReadTsc(); return true;
            case X86.MsrApicBase: value = ReadApicBase?.Invoke() ?? ApicBase; return true;
            case X86.MsrSysenterCs: value = SysenterCs; return true;
            case X86.MsrSysenterEsp: value = SysenterEsp; return true;
            case X86.MsrSysenterEip: value = SysenterEip; return true;
            case X86.MsrMiscEnable: value = MiscEnable; return true;
            case X86.MsrPat: value = Pat; return true;
            case X86.MsrEfer: value = Efer; return true;
            case X86.MsrStar: value = Star; return true;
            case X86.MsrLstar: value = Lstar; return true;
            case X86.MsrCstar: value = Cstar; return true;
            case X86.MsrSfmask: value = Sfmask; return true;
            case X86.MsrFsBase: value = Segments[(int)SegmentIndex.FS].Base; return true;
            case X86.MsrGsBase: value = Segments[(int)SegmentIndex.GS].Base; return true;
            case X86.MsrKernelGsBase: value = KernelGsBase; return true;
            case X86.MsrTscAux: value = TscAux; return true;
        }
        if (UnknownMsrRead != null) return UnknownMsrRead(msr, out value);
        value = 0;
        return false;
    }

    /// <summary>Writes an MSR as WRMSR would (also serves KVM_SET_MSRS). False means #GP.</summary>
    public bool TryWriteMsr(uint msr, ulong value)
    {
        switch (msr)
        {
            case X86.MsrTsc:
                TscOffset += (long)(value - ReadTsc());
                return true;
            case X86.MsrApicBase:
                if (WriteApicBase != null) return WriteApicBase(value);
                ApicBase = value;
                return true;
            case X86.MsrSysenterCs: SysenterCs = value; return true;
            case X86.MsrSysenterEsp: SysenterEsp = value; return true;
            case X86.MsrSysenterEip: SysenterEip = value; return true;
            case X86.MsrMiscEnable: MiscEnable = value; return true;
            case X86.MsrPat:
                for (int i = 0; i < 8; i++)
                {
                    ulong type = (value >> (i * 8)) & 0xFF;
                    if (type is 2 or 3 or > 7) return false;
                }
                Pat = value;
                return true;
            case X86.MsrEfer: return WriteEfer(value);
            case X86.MsrStar: Star = value; return true;
            case X86.MsrLstar:
                if (!IsCanonical(value)) return false;
                Lstar = value;
                return true;
            case X86.MsrCstar:
                if (!IsCanonical(value)) return false;
                Cstar = value;
                return true;
            case X86.MsrSfmask: Sfmask = value & 0xFFFFFFFF; return true;
            case X86.MsrFsBase:
                if (!IsCanonical(value)) return false;
                Segments[(int)SegmentIndex.FS].Base = value;
                return true;
            case X86.MsrGsBase:
                if (!IsCanonical(value)) return false;
                Segments[(int)SegmentIndex.GS].Base = value;
                return true;
            case X86.MsrKernelGsBase:
                if (!IsCanonical(value)) return false;
                KernelGsBase = value;
                return true;
            case X86.MsrTscAux: TscAux = value & 0xFFFFFFFF; return true;
        }
        return UnknownMsrWrite != null && UnknownMsrWrite(msr, value);
    }

    private bool WriteEfer(ulong value)
    {
        const ulong writable = X86.EferSce | X86.EferLme | X86.EferNxe | X86.EferFfxsr;
        if ((value & ~(writable | X86.EferLma)) != 0) return false;
        bool lmeChanges = ((value ^ Efer) & X86.EferLme) != 0;
        if (lmeChanges && (Cr0 & X86.Cr0Pg) != 0) return false;
        ulong changed = (Efer ^ value) & writable;
        Efer = (Efer & X86.EferLma) | (value & writable);
        if ((changed & X86.EferNxe) != 0) FlushTlb();
        RefreshMode();
        return true;
    }

    private void ExecuteHlt()
    {
        RequireCpl0();
        Halted = true;
        SetExit(CpuExitReason.Hlt);
    }
}
