using Iced.Intel;

namespace KvmSharp.Soft.Cpu;

public sealed unsafe partial class X86Cpu
{
    /// <summary>x87/SSE/AVX instructions and anything not handled by the integer core.</summary>
    private void ExecuteFloatingPointOrFail(ref Instruction instruction)
    {
        // VEX/EVEX/XOP/3DNow! encodings: this CPU offers no AVX, so it behaves like a processor without them.
        if (instruction.Encoding != EncodingKind.Legacy) throw Ud();
        switch (instruction.Mnemonic)
        {
            case Mnemonic.Vmcall: case Mnemonic.Vmmcall:
                // What KVM answers for a hypercall it does not know: -KVM_ENOSYS.
                Gpr[0] = unchecked((ulong)-1000L);
                return;
            case Mnemonic.Vmxon: case Mnemonic.Vmxoff: case Mnemonic.Vmptrld: case Mnemonic.Vmptrst: case Mnemonic.Vmclear:
            case Mnemonic.Vmread: case Mnemonic.Vmwrite: case Mnemonic.Vmlaunch: case Mnemonic.Vmresume: case Mnemonic.Invept:
            case Mnemonic.Invvpid: case Mnemonic.Vmfunc: case Mnemonic.Vmrun: case Mnemonic.Vmload: case Mnemonic.Vmsave:
            case Mnemonic.Stgi: case Mnemonic.Clgi: case Mnemonic.Skinit: case Mnemonic.Invlpga: case Mnemonic.Xbegin:
            case Mnemonic.Xend: case Mnemonic.Xabort: case Mnemonic.Xtest: case Mnemonic.Getsec: case Mnemonic.Encls:
            case Mnemonic.Enclu: case Mnemonic.Rsm:
                // Features this CPU does not offer (VMX, SVM, TSX, SMX, SGX, SMM).
                throw Ud();
            case Mnemonic.Rdpmc:
                // No performance counters are implemented.
                throw Gp0();
            case Mnemonic.Fneni: case Mnemonic.Fndisi: case Mnemonic.Fnsetpm: case Mnemonic.Reservednop:
                return;
            case Mnemonic.Fnop:
                // Despite its name FNOP is a waiting instruction.
                CheckFpuAvailable();
                CheckPendingX87Exception();
                return;
            case Mnemonic.Ffreep:
                CheckFpuAvailable();
                CheckPendingX87Exception();
                Fpu.Ftwx &= (byte)~(1 << ((X87Top + StIndex(instruction.Op0Register)) & 7));
                X87Pop();
                // As FFREE: the EPYC clears C1.
                Fpu.Fsw &= unchecked((ushort)~FswC1);
                return;
            case Mnemonic.Fninit:
                CheckFpuAvailable();
                // TOP becomes 0 with every physical register keeping its contents (FXSAVE then shows them rotated).
                EnterMmxMode();
                Fpu.Fcw = 0x37F;
                Fpu.Fsw = 0;
                Fpu.Ftwx = 0;
                Fpu.LastIp = Fpu.LastDp = 0;
                Fpu.LastOpcode = 0;
                return;
            case Mnemonic.Fnstsw:
                CheckFpuAvailable();
                WriteOperand(ref instruction, 0, 2, Fpu.Fsw);
                return;
            case Mnemonic.Fnstcw:
                CheckFpuAvailable();
                WriteOperand(ref instruction, 0, 2, Fpu.Fcw);
                return;
            case Mnemonic.Fldcw:
                CheckFpuAvailable();
                CheckPendingX87Exception();
                // The reserved bits read as the EPYC keeps them: 7 and 13-15 as zero, 6 as one (0x96e7 loads as 0x1667,
                // 0x1708 as 0x1748).
                Fpu.Fcw = (ushort)((ReadOperand(ref instruction, 0, 2) & 0x1F3F) | 0x40);
                // Unmasking a flag that is already set makes the exception pending (and masking it withdraws it).
                UpdateX87ErrorSummary();
                return;
            case Mnemonic.Wait:
                if ((Cr0 & (X86.Cr0Mp | X86.Cr0Ts)) == (X86.Cr0Mp | X86.Cr0Ts)) throw Fault(X86.VectorDeviceNotAvailable);
                CheckPendingX87Exception();
                return;
            case Mnemonic.Fnstenv: case Mnemonic.Fnsave:
                ExecuteStoreX87Environment(ref instruction, withRegisters: instruction.Mnemonic == Mnemonic.Fnsave);
                return;
            case Mnemonic.Fldenv: case Mnemonic.Frstor:
                ExecuteLoadX87Environment(ref instruction, withRegisters: instruction.Mnemonic == Mnemonic.Frstor);
                return;
            case Mnemonic.Fnclex:
                CheckFpuAvailable();
                Fpu.Fsw &= 0x7F00;
                return;
            case Mnemonic.Fxsave: case Mnemonic.Fxsave64:
                ExecuteFxsave(ref instruction);
                return;
            case Mnemonic.Fxrstor: case Mnemonic.Fxrstor64:
                ExecuteFxrstor(ref instruction);
                return;
            case Mnemonic.Xsave: case Mnemonic.Xsave64: case Mnemonic.Xsaveopt: case Mnemonic.Xsaveopt64:
                ExecuteXsave(ref instruction);
                return;
            case Mnemonic.Xrstor: case Mnemonic.Xrstor64:
                ExecuteXrstor(ref instruction);
                return;
        }
        if (instruction.Encoding == EncodingKind.Legacy && IsX87(ref instruction))
        {
            CheckFpuAvailable();
            CheckPendingX87Exception();
            if (TryExecuteX87(ref instruction)) return;
            throw Unsupported(ref instruction);
        }
        // MMX instructions and EMMS wait for the x87 unit too: a pending unmasked x87 exception is reported (#MF) before
        // they execute, after their own #UD/#NM checks.
        if (instruction.Mnemonic == Mnemonic.Emms)
        {
            CheckFpuAvailable();
            CheckPendingX87Exception();
        }
        else if (UsesMmx(ref instruction) && (Cr0 & (X86.Cr0Em | X86.Cr0Ts)) == 0)
        {
            CheckPendingX87Exception();
        }
        ExecuteSse(ref instruction);
    }

    private static bool IsX87(ref Instruction instruction)
    {
        for (int i = 0; i < instruction.OpCount; i++)
            if (instruction.GetOpKind(i) == OpKind.Register && instruction.GetOpRegister(i).IsST()) return true;
        return instruction.MemorySize is MemorySize.Float32 or MemorySize.Float64 or MemorySize.Float80 &&
            instruction.Mnemonic.ToString()[0] == 'F' ||
            instruction.Mnemonic is Mnemonic.Fild or Mnemonic.Fbld or Mnemonic.Fbstp or Mnemonic.Fist or Mnemonic.Fistp or Mnemonic.Fisttp or Mnemonic.Fiadd or
                Mnemonic.Fisub or Mnemonic.Fisubr or Mnemonic.Fimul or Mnemonic.Fidiv or Mnemonic.Fidivr or Mnemonic.Ficom or
                Mnemonic.Ficomp or Mnemonic.Fldz or Mnemonic.Fld1 or Mnemonic.Fldpi or Mnemonic.Fldl2e or Mnemonic.Fldln2 or
                Mnemonic.Fldl2t or Mnemonic.Fldlg2 or Mnemonic.Fchs or Mnemonic.Fabs or Mnemonic.Fsqrt or Mnemonic.Frndint or
                Mnemonic.Fsin or Mnemonic.Fcos or Mnemonic.Fptan or Mnemonic.Fpatan or Mnemonic.F2xm1 or Mnemonic.Fyl2x or
                Mnemonic.Fscale or Mnemonic.Fprem or Mnemonic.Fprem1 or Mnemonic.Fxch or Mnemonic.Fincstp or Mnemonic.Fdecstp or
                Mnemonic.Ftst or Mnemonic.Fxam or Mnemonic.Fcompp or Mnemonic.Fucompp or Mnemonic.Fsincos or Mnemonic.Fxtract or
                Mnemonic.Fyl2xp1;
    }

    private void CheckFpuAvailable()
    {
        if ((Cr0 & (X86.Cr0Em | X86.Cr0Ts)) != 0) throw Fault(X86.VectorDeviceNotAvailable);
    }

    /// <summary>
    /// What an instruction this CPU cannot execute does: #UD when it belongs to a
    /// feature the CPU never offers (a processor without the feature faults so),
    /// otherwise an internal-error exit naming it.
    /// </summary>
    private Exception Unsupported(ref Instruction instruction) =>
        BelongsToOfferedFeature(ref instruction)
            ? new UnsupportedInstructionException($"unsupported instruction '{instruction}' ({instruction.Code}) at RIP 0x{_instructionRip:x}")
            : Ud();

    /// <summary>The instruction-set families this CPU implements, in Iced's terms.</summary>
    private static readonly HashSet<CpuidFeature> s_offeredFeatures =
    [
        CpuidFeature.INTEL8086, CpuidFeature.INTEL8086_ONLY, CpuidFeature.INTEL186, CpuidFeature.INTEL286,
        CpuidFeature.INTEL286_ONLY, CpuidFeature.INTEL386, CpuidFeature.INTEL386_ONLY, CpuidFeature.INTEL486,
        CpuidFeature.X64, CpuidFeature.CPUID, CpuidFeature.FPU, CpuidFeature.FPU287,
        CpuidFeature.FPU387, CpuidFeature.CMOV, CpuidFeature.CX8, CpuidFeature.CMPXCHG16B, CpuidFeature.MMX,
        CpuidFeature.SSE, CpuidFeature.SSE2, CpuidFeature.SSE3, CpuidFeature.SSSE3, CpuidFeature.SSE4_1, CpuidFeature.FXSR, CpuidFeature.SYSCALL, CpuidFeature.SEP,
        CpuidFeature.TSC, CpuidFeature.MSR, CpuidFeature.RDTSCP, CpuidFeature.POPCNT, CpuidFeature.MOVBE,
        CpuidFeature.RDRAND, CpuidFeature.PAUSE, CpuidFeature.CLFSH, CpuidFeature.XSAVE, CpuidFeature.FSGSBASE,
        CpuidFeature.SSE4_2,
    ];

    private static bool BelongsToOfferedFeature(ref Instruction instruction)
    {
        foreach (CpuidFeature feature in instruction.Code.CpuidFeatures())
            if (s_offeredFeatures.Contains(feature))
                return true;
        return false;
    }
}

public sealed unsafe partial class X86Cpu
{
    private const uint MxcsrMask = FpuState.MxcsrMask;

    /// <summary>FXSAVE image (512 bytes): x87 environment, MXCSR, ST0-7, XMM0-15.</summary>
    private void ExecuteFxsave(ref Instruction instruction)
    {
        CheckFpuAvailable();
        ulong linear = MemoryLinear(ref instruction, 512, AccessKind.Write);
        if ((linear & 15) != 0) throw Gp0();
        Span<byte> image = stackalloc byte[512];
        image.Clear();
        BuildLegacyImage(image);
        WriteLinearBytes(linear, image);
    }

    private void BuildLegacyImage(Span<byte> image) => Fpu.WriteFxsaveImage(image, _mode64 ? 16 : 8);

    private void ExecuteFxrstor(ref Instruction instruction)
    {
        CheckFpuAvailable();
        ulong linear = MemoryLinear(ref instruction, 512, AccessKind.Read);
        if ((linear & 15) != 0) throw Gp0();
        Span<byte> image = stackalloc byte[512];
        ReadLinearBytes(linear, image);
        uint mxcsr = BitConverter.ToUInt32(image[24..]);
        if ((mxcsr & ~MxcsrMask) != 0) throw Gp0();
        LoadLegacyImage(image, mxcsr);
    }

    private void LoadLegacyImage(ReadOnlySpan<byte> image, uint mxcsr) => Fpu.LoadFxsaveImage(image, mxcsr, _mode64 ? 16 : 8);

    /// <summary>
    /// XSAVE/XSAVEOPT in the standard format for the x87 and SSE components: legacy region plus the XSAVE header,
    /// whose XSTATE_BV records which requested components were saved.
    /// </summary>
    private void ExecuteXsave(ref Instruction instruction)
    {
        if ((Cr4 & X86.Cr4Osxsave) == 0) throw Ud();
        if ((Cr0 & X86.Cr0Ts) != 0) throw Fault(X86.VectorDeviceNotAvailable);
        ulong requested = ((Gpr[2] << 32) | (Gpr[0] & 0xFFFFFFFF)) & Xcr0;
        ulong linear = MemoryLinear(ref instruction, 576, AccessKind.Write);
        if ((linear & 63) != 0) throw Gp0();
        Span<byte> current = stackalloc byte[576];
        ReadLinearBytes(linear, current);
        Span<byte> image = stackalloc byte[512];
        image.Clear();
        BuildLegacyImage(image);
        if ((requested & 1) != 0)
        {
            image[..24].CopyTo(current);
            image[32..160].CopyTo(current[32..]);
        }
        if ((requested & 2) != 0)
            image[160..416].CopyTo(current[160..]);
        if ((requested & 6) != 0)
        {
            image[24..32].CopyTo(current[24..]);
        }
        ulong xstateBv = BitConverter.ToUInt64(current[512..]);
        xstateBv = (xstateBv & ~requested) | (requested & 3);
        BitConverter.TryWriteBytes(current[512..], xstateBv);
        WriteLinearBytes(linear, current);
    }

    private void ExecuteXrstor(ref Instruction instruction)
    {
        if ((Cr4 & X86.Cr4Osxsave) == 0) throw Ud();
        if ((Cr0 & X86.Cr0Ts) != 0) throw Fault(X86.VectorDeviceNotAvailable);
        ulong requested = ((Gpr[2] << 32) | (Gpr[0] & 0xFFFFFFFF)) & Xcr0;
        ulong linear = MemoryLinear(ref instruction, 576, AccessKind.Read);
        if ((linear & 63) != 0) throw Gp0();
        Span<byte> image = stackalloc byte[576];
        ReadLinearBytes(linear, image);
        ulong xstateBv = BitConverter.ToUInt64(image[512..]);
        ulong xcompBv = BitConverter.ToUInt64(image[520..]);
        if (xcompBv != 0 || (xstateBv & ~Xcr0) != 0) throw Gp0();
        uint mxcsr = BitConverter.ToUInt32(image[24..]);
        if ((requested & 6) != 0 && (mxcsr & ~MxcsrMask) != 0) throw Gp0();
        FpuState saved = Fpu;
        LoadLegacyImage(image[..512], mxcsr);
        FpuState loaded = Fpu;
        Fpu = saved;
        if ((requested & 1) != 0)
        {
            if ((xstateBv & 1) != 0)
            {
                Fpu.Fcw = loaded.Fcw; Fpu.Fsw = loaded.Fsw; Fpu.Ftwx = loaded.Ftwx; Fpu.LastOpcode = loaded.LastOpcode;
                Fpu.LastIp = loaded.LastIp; Fpu.LastDp = loaded.LastDp; Fpu.St = loaded.St;
            }
            else
            {
                Fpu.Fcw = 0x37F; Fpu.Fsw = 0; Fpu.Ftwx = 0; Fpu.LastOpcode = 0; Fpu.LastIp = 0; Fpu.LastDp = 0; Fpu.St = default;
            }
        }
        if ((requested & 2) != 0)
            Fpu.Xmm = (xstateBv & 2) != 0 ? loaded.Xmm : default;
        if ((requested & 6) != 0)
            Fpu.Mxcsr = mxcsr;
    }

    /// <summary>The full 2-bit tag word, worked out from the registers: valid 00, zero 01, special 10, empty 11.</summary>
    private ushort FullTagWord()
    {
        ushort tags = 0;
        for (int physical = 0; physical < 8; physical++)
        {
            int tag;
            if ((Fpu.Ftwx & (1 << physical)) == 0) tag = 3;
            else
            {
                Extended80 value = X87Get((physical - X87Top) & 7);
                tag = value.IsZero ? 1 : value.Exponent == 0 || value.Exponent == Extended80.MaxExponent || value.IsUnsupported ? 2 : 0;
            }
            tags |= (ushort)(tag << (physical * 2));
        }
        return tags;
    }

    /// <summary>FNSTENV/FNSAVE in the 32-bit protected-mode layout (28-byte environment, then ST0-7 as 10-byte values).</summary>
    private void ExecuteStoreX87Environment(ref Instruction instruction, bool withRegisters)
    {
        CheckFpuAvailable();
        int segment = MemorySegment(ref instruction);
        ulong address = EffectiveAddress(ref instruction);
        int length = withRegisters ? 108 : 28;
        ulong linear = ToLinear(segment, address, length, AccessKind.Write);
        Span<byte> image = stackalloc byte[108];
        image.Clear();
        BitConverter.TryWriteBytes(image[0..], (uint)Fpu.Fcw | 0xFFFF0000);
        BitConverter.TryWriteBytes(image[4..], (uint)Fpu.Fsw | 0xFFFF0000);
        BitConverter.TryWriteBytes(image[8..], (uint)FullTagWord() | 0xFFFF0000);
        BitConverter.TryWriteBytes(image[12..], (uint)Fpu.LastIp);
        BitConverter.TryWriteBytes(image[16..], (uint)Fpu.LastOpcode << 16);
        BitConverter.TryWriteBytes(image[20..], (uint)Fpu.LastDp);
        BitConverter.TryWriteBytes(image[24..], 0xFFFF0000u);
        if (withRegisters)
        {
            for (int i = 0; i < 8; i++)
            {
                BitConverter.TryWriteBytes(image[(28 + i * 10)..], Fpu.St[i * 2]);
                BitConverter.TryWriteBytes(image[(36 + i * 10)..], (ushort)Fpu.St[i * 2 + 1]);
            }
        }
        WriteLinearBytes(linear, image[..length]);
        // Storing the environment masks all x87 exceptions, which withdraws a pending one (ES and B clear, as on the
        // EPYC); FNSAVE then reinitializes the unit.
        Fpu.Fcw |= 0x3F;
        UpdateX87ErrorSummary();
        if (withRegisters)
        {
            Fpu.Fcw = 0x37F;
            Fpu.Fsw = 0;
            Fpu.Ftwx = 0;
        }
    }

    private void ExecuteLoadX87Environment(ref Instruction instruction, bool withRegisters)
    {
        CheckFpuAvailable();
        CheckPendingX87Exception();
        int segment = MemorySegment(ref instruction);
        ulong address = EffectiveAddress(ref instruction);
        int length = withRegisters ? 108 : 28;
        ulong linear = ToLinear(segment, address, length, AccessKind.Read);
        Span<byte> image = stackalloc byte[108];
        ReadLinearBytes(linear, image[..length]);
        Fpu.Fcw = BitConverter.ToUInt16(image[0..]);
        Fpu.Fsw = BitConverter.ToUInt16(image[4..]);
        ushort tags = BitConverter.ToUInt16(image[8..]);
        byte abridged = 0;
        for (int physical = 0; physical < 8; physical++)
            if (((tags >> (physical * 2)) & 3) != 3) abridged |= (byte)(1 << physical);
        Fpu.Ftwx = abridged;
        Fpu.LastIp = BitConverter.ToUInt32(image[12..]);
        Fpu.LastOpcode = (ushort)(BitConverter.ToUInt32(image[16..]) >> 16 & 0x7FF);
        Fpu.LastDp = BitConverter.ToUInt32(image[20..]);
        if (withRegisters)
        {
            for (int i = 0; i < 8; i++)
            {
                Fpu.St[i * 2] = BitConverter.ToUInt64(image[(28 + i * 10)..]);
                Fpu.St[i * 2 + 1] = BitConverter.ToUInt16(image[(36 + i * 10)..]);
            }
        }
        UpdateX87ErrorSummary();
    }
}
