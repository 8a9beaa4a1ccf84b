using System.Runtime.Intrinsics;
using Iced.Intel;

namespace KvmSharp.Soft.Cpu;

/// <summary>
/// SSE/SSE2 floating point: arithmetic, comparisons and conversions, bit-exact through <see cref="SseFloat"/> with MXCSR
/// rounding, DAZ, FTZ and exception flags. Every lane is computed before anything is written, because an unmasked
/// exception in any lane raises #XM (or #UD without CR4.OSXMMEXCPT) and leaves the whole destination untouched.
/// </summary>
public sealed unsafe partial class X86Cpu
{
    private enum FloatOperation { Add, Subtract, Multiply, Divide, Minimum, Maximum, SquareRoot }

    private bool TryExecuteFloatingPoint(ref Instruction instruction)
    {
        Mnemonic mnemonic = instruction.Mnemonic;
        switch (mnemonic)
        {
            case Mnemonic.Addss: ExecuteFloatArithmetic(ref instruction, FloatOperation.Add, false, true); return true;
            case Mnemonic.Addsd: ExecuteFloatArithmetic(ref instruction, FloatOperation.Add, true, true); return true;
            case Mnemonic.Addps: ExecuteFloatArithmetic(ref instruction, FloatOperation.Add, false, false); return true;
            case Mnemonic.Addpd: ExecuteFloatArithmetic(ref instruction, FloatOperation.Add, true, false); return true;
            case Mnemonic.Subss: ExecuteFloatArithmetic(ref instruction, FloatOperation.Subtract, false, true); return true;
            case Mnemonic.Subsd: ExecuteFloatArithmetic(ref instruction, FloatOperation.Subtract, true, true); return true;
            case Mnemonic.Subps: ExecuteFloatArithmetic(ref instruction, FloatOperation.Subtract, false, false); return true;
            case Mnemonic.Subpd: ExecuteFloatArithmetic(ref instruction, FloatOperation.Subtract, true, false); return true;
            case Mnemonic.Mulss: ExecuteFloatArithmetic(ref instruction, FloatOperation.Multiply, false, true); return true;
            case Mnemonic.Mulsd: ExecuteFloatArithmetic(ref instruction, FloatOperation.Multiply, true, true); return true;
            case Mnemonic.Mulps: ExecuteFloatArithmetic(ref instruction, FloatOperation.Multiply, false, false); return true;
            case Mnemonic.Mulpd: ExecuteFloatArithmetic(ref instruction, FloatOperation.Multiply, true, false); return true;
            case Mnemonic.Divss: ExecuteFloatArithmetic(ref instruction, FloatOperation.Divide, false, true); return true;
            case Mnemonic.Divsd: ExecuteFloatArithmetic(ref instruction, FloatOperation.Divide, true, true); return true;
            case Mnemonic.Divps: ExecuteFloatArithmetic(ref instruction, FloatOperation.Divide, false, false); return true;
            case Mnemonic.Divpd: ExecuteFloatArithmetic(ref instruction, FloatOperation.Divide, true, false); return true;
            case Mnemonic.Minss: ExecuteFloatArithmetic(ref instruction, FloatOperation.Minimum, false, true); return true;
            case Mnemonic.Minsd: ExecuteFloatArithmetic(ref instruction, FloatOperation.Minimum, true, true); return true;
            case Mnemonic.Minps: ExecuteFloatArithmetic(ref instruction, FloatOperation.Minimum, false, false); return true;
            case Mnemonic.Minpd: ExecuteFloatArithmetic(ref instruction, FloatOperation.Minimum, true, false); return true;
            case Mnemonic.Maxss: ExecuteFloatArithmetic(ref instruction, FloatOperation.Maximum, false, true); return true;
            case Mnemonic.Maxsd: ExecuteFloatArithmetic(ref instruction, FloatOperation.Maximum, true, true); return true;
            case Mnemonic.Maxps: ExecuteFloatArithmetic(ref instruction, FloatOperation.Maximum, false, false); return true;
            case Mnemonic.Maxpd: ExecuteFloatArithmetic(ref instruction, FloatOperation.Maximum, true, false); return true;
            case Mnemonic.Sqrtss: ExecuteFloatArithmetic(ref instruction, FloatOperation.SquareRoot, false, true); return true;
            case Mnemonic.Sqrtsd: ExecuteFloatArithmetic(ref instruction, FloatOperation.SquareRoot, true, true); return true;
            case Mnemonic.Sqrtps: ExecuteFloatArithmetic(ref instruction, FloatOperation.SquareRoot, false, false); return true;
            case Mnemonic.Sqrtpd: ExecuteFloatArithmetic(ref instruction, FloatOperation.SquareRoot, true, false); return true;

            case Mnemonic.Rcpss: ExecuteReciprocalEstimate(ref instruction, squareRoot: false, scalar: true); return true;
            case Mnemonic.Rcpps: ExecuteReciprocalEstimate(ref instruction, squareRoot: false, scalar: false); return true;
            case Mnemonic.Rsqrtss: ExecuteReciprocalEstimate(ref instruction, squareRoot: true, scalar: true); return true;
            case Mnemonic.Rsqrtps: ExecuteReciprocalEstimate(ref instruction, squareRoot: true, scalar: false); return true;

            case Mnemonic.Cmpss: ExecuteFloatCompare(ref instruction, false, true); return true;
            case Mnemonic.Cmpsd: ExecuteFloatCompare(ref instruction, true, true); return true;
            case Mnemonic.Cmpps: ExecuteFloatCompare(ref instruction, false, false); return true;
            case Mnemonic.Cmppd: ExecuteFloatCompare(ref instruction, true, false); return true;
            case Mnemonic.Comiss: ExecuteOrderedCompare(ref instruction, false, signalOnQuietNaN: true); return true;
            case Mnemonic.Comisd: ExecuteOrderedCompare(ref instruction, true, signalOnQuietNaN: true); return true;
            case Mnemonic.Ucomiss: ExecuteOrderedCompare(ref instruction, false, signalOnQuietNaN: false); return true;
            case Mnemonic.Ucomisd: ExecuteOrderedCompare(ref instruction, true, signalOnQuietNaN: false); return true;

            case Mnemonic.Cvtsi2ss: ExecuteIntegerToScalar(ref instruction, toDouble: false); return true;
            case Mnemonic.Cvtsi2sd: ExecuteIntegerToScalar(ref instruction, toDouble: true); return true;
            case Mnemonic.Cvtss2si: ExecuteScalarToInteger(ref instruction, isDouble: false, truncate: false); return true;
            case Mnemonic.Cvttss2si: ExecuteScalarToInteger(ref instruction, isDouble: false, truncate: true); return true;
            case Mnemonic.Cvtsd2si: ExecuteScalarToInteger(ref instruction, isDouble: true, truncate: false); return true;
            case Mnemonic.Cvttsd2si: ExecuteScalarToInteger(ref instruction, isDouble: true, truncate: true); return true;
            case Mnemonic.Cvtss2sd: ExecuteScalarFloatConversion(ref instruction, toDouble: true); return true;
            case Mnemonic.Cvtsd2ss: ExecuteScalarFloatConversion(ref instruction, toDouble: false); return true;
            case Mnemonic.Cvtps2pd:
            case Mnemonic.Cvtpd2ps:
            case Mnemonic.Cvtdq2ps:
            case Mnemonic.Cvtdq2pd:
            case Mnemonic.Cvtps2dq:
            case Mnemonic.Cvttps2dq:
            case Mnemonic.Cvtpd2dq:
            case Mnemonic.Cvttpd2dq:
                ExecutePackedConversion(ref instruction, mnemonic);
                return true;
        }
        return false;
    }

    /// <summary>
    /// CVTPI2PS/PD, CVT(T)PS2PI and CVT(T)PD2PI: SSE conversions with an MMX operand. They follow the SSE availability
    /// rules and MXCSR; touching an MMX register switches the x87 unit to MMX mode, while CVTPI2Px from memory does not.
    /// </summary>
    private bool TryExecuteMmxOperandConversion(ref Instruction instruction)
    {
        Mnemonic mnemonic = instruction.Mnemonic;
        if (mnemonic is not (Mnemonic.Cvtpi2ps or Mnemonic.Cvtpi2pd or Mnemonic.Cvtps2pi or Mnemonic.Cvttps2pi
            or Mnemonic.Cvtpd2pi or Mnemonic.Cvttpd2pi))
            return false;
        CheckSseAvailable();
        uint mxcsr = Fpu.Mxcsr, flags = 0;
        if (mnemonic is Mnemonic.Cvtpi2ps or Mnemonic.Cvtpi2pd)
        {
            bool fromMmx = instruction.Op1Kind == OpKind.Register;
            ulong integers = fromMmx ? ReadMm(instruction.Op1Register) : ReadOperand(ref instruction, 1, 8);
            if (fromMmx) EnterMmxMode();
            int destination = XmmIndex(instruction.Op0Register);
            bool toDouble = mnemonic == Mnemonic.Cvtpi2pd;
            ulong low = SseFloat.FromInteger((int)integers, toDouble, mxcsr, ref flags);
            ulong high = SseFloat.FromInteger((int)(integers >> 32), toDouble, mxcsr, ref flags);
            CompleteSimdFloat(flags);
            WriteXmm(destination, toDouble
                ? Vector128.Create(low, high)
                : ReadXmm(destination).WithElement(0, low | high << 32));
            return true;
        }
        bool fromDouble = mnemonic is Mnemonic.Cvtpd2pi or Mnemonic.Cvttpd2pi;
        bool truncate = mnemonic is Mnemonic.Cvttps2pi or Mnemonic.Cvttpd2pi;
        // The double forms read a whole (aligned) XMM operand; the single forms only its low 64 bits.
        Vector128<ulong> source = fromDouble
            ? ReadXmmOperand(ref instruction, 1, aligned: true)
            : Vector128.Create(ReadScalarSource(ref instruction, 1, 8), 0UL);
        EnterMmxMode();
        ulong first = SseFloat.ToInteger(GetLane(source, 0, fromDouble), fromDouble, false, truncate, mxcsr, ref flags);
        ulong second = SseFloat.ToInteger(GetLane(source, 1, fromDouble), fromDouble, false, truncate, mxcsr, ref flags);
        CompleteSimdFloat(flags);
        WriteMm(instruction.Op0Register, first | second << 32);
        return true;
    }

    /// <summary>
    /// Adds the detected flags to MXCSR the way the processor does, or raises the SIMD floating-point exception: an
    /// unmasked pre-computation exception (IE, DE, ZE in any lane) stops the instruction with only those flags set; an
    /// unmasked post-computation one (OE, UE, PE) sets every detected flag. Either way no destination is written.
    /// </summary>
    private void CompleteSimdFloat(uint flags)
    {
        if (flags == 0) return;
        uint unmasked = ~(Fpu.Mxcsr >> SseFloat.MaskShift) & 0x3F;
        uint pre = flags & SseFloat.PreComputationFlags;
        if ((pre & unmasked) != 0)
        {
            Fpu.Mxcsr |= pre;
            throw SimdFloatingPointFault();
        }
        Fpu.Mxcsr |= flags;
        if ((flags & unmasked) != 0) throw SimdFloatingPointFault();
    }

    private GuestFault SimdFloatingPointFault() =>
        (Cr4 & X86.Cr4Osxmmexcpt) != 0 ? Fault(X86.VectorSimdFloatingPoint) : Ud();

    /// <summary>A scalar source: the low lane of an XMM register, or <paramref name="size"/> bytes of memory.</summary>
    private ulong ReadScalarSource(ref Instruction instruction, int op, int size)
    {
        if (instruction.GetOpKind(op) == OpKind.Register)
        {
            ulong low = ReadXmm(XmmIndex(instruction.GetOpRegister(op))).GetElement(0);
            return size == 8 ? low : low & 0xFFFFFFFF;
        }
        return ReadOperand(ref instruction, op, size);
    }

    /// <summary>Replaces the low 32 or 64 bits of an XMM register, keeping the rest.</summary>
    private void WriteScalarLane(int index, ulong bits, bool isDouble)
    {
        Vector128<ulong> current = ReadXmm(index);
        ulong low = isDouble ? bits : (current.GetElement(0) & ~0xFFFFFFFFUL) | (bits & 0xFFFFFFFF);
        WriteXmm(index, current.WithElement(0, low));
    }

    /// <summary>The second operand of a packed (aligned 16 bytes) or scalar (one lane, from memory only its size) instruction.</summary>
    private Vector128<ulong> ReadFloatSource(ref Instruction instruction, bool isDouble, bool scalar) => scalar
        ? Vector128.Create(ReadScalarSource(ref instruction, 1, isDouble ? 8 : 4), 0UL)
        : ReadXmmOperand(ref instruction, 1, aligned: true);

    private static ulong GetLane(Vector128<ulong> value, int lane, bool isDouble) =>
        isDouble ? value.GetElement(lane) : value.AsUInt32().GetElement(lane);

    private static Vector128<ulong> WithLane(Vector128<ulong> value, int lane, ulong bits, bool isDouble) =>
        isDouble ? value.WithElement(lane, bits) : value.AsUInt32().WithElement(lane, (uint)bits).AsUInt64();

    /// <summary>
    /// RCPSS/RCPPS/RSQRTSS/RSQRTPS. The SDM only bounds these approximations (relative error at most 1.5 × 2^-12) and
    /// Intel and AMD give different bits, so Soft returns the correctly rounded 1/x or 1/√x, which is within any such
    /// bound, with the special cases the SDM fixes: denormal inputs count as zero, zero gives infinity of its sign, infinity
    /// gives zero, a negative input to RSQRT (−∞ too) gives the default NaN, a NaN gives itself quietened, and a reciprocal
    /// too small for a normal single is flushed to zero. MXCSR is neither read nor written: these raise no SIMD exception.
    /// </summary>
    private void ExecuteReciprocalEstimate(ref Instruction instruction, bool squareRoot, bool scalar)
    {
        CheckSseAvailable();
        int destination = XmmIndex(instruction.Op0Register);
        Vector128<ulong> source = ReadFloatSource(ref instruction, isDouble: false, scalar);
        Vector128<uint> lanes = source.AsUInt32();
        Vector128<uint> result = scalar ? ReadXmm(destination).AsUInt32() : lanes;
        for (int i = 0; i < (scalar ? 1 : 4); i++)
            result = result.WithElement(i, ReciprocalEstimate(lanes.GetElement(i), squareRoot));
        WriteXmm(destination, result.AsUInt64());
    }

    private static uint ReciprocalEstimate(uint bits, bool squareRoot)
    {
        uint sign = bits & 0x8000_0000;
        uint exponent = (bits >> 23) & 0xFF;
        if (exponent == 0xFF && (bits & 0x7F_FFFF) != 0) return bits | 0x40_0000;
        if (exponent == 0) return sign | 0x7F80_0000;
        if (squareRoot && sign != 0) return 0xFFC0_0000;
        if (exponent == 0xFF) return sign;
        // The SDM guarantees a tiny (so flushed) reciprocal from 2^126 up, which the EPYC gives for 2^126 itself.
        if (!squareRoot && exponent >= 0xFD) return sign;
        double value = BitConverter.UInt32BitsToSingle(bits);
        float estimate = (float)(squareRoot ? 1.0 / Math.Sqrt(value) : 1.0 / value);
        uint estimateBits = BitConverter.SingleToUInt32Bits(estimate);
        return (estimateBits & 0x7F80_0000) == 0 ? estimateBits & 0x8000_0000 : estimateBits;
    }

    private void ExecuteFloatArithmetic(ref Instruction instruction, FloatOperation operation, bool isDouble, bool scalar)
    {
        int destination = XmmIndex(instruction.Op0Register);
        Vector128<ulong> b = ReadFloatSource(ref instruction, isDouble, scalar);
        Vector128<ulong> a = ReadXmm(destination);
        uint mxcsr = Fpu.Mxcsr, flags = 0;
        int lanes = scalar ? 1 : isDouble ? 2 : 4;
        Vector128<ulong> result = a;
        for (int lane = 0; lane < lanes; lane++)
        {
            ulong x = GetLane(a, lane, isDouble), y = GetLane(b, lane, isDouble);
            ulong r = operation switch
            {
                FloatOperation.Add => SseFloat.Add(x, y, isDouble, mxcsr, ref flags),
                FloatOperation.Subtract => SseFloat.Subtract(x, y, isDouble, mxcsr, ref flags),
                FloatOperation.Multiply => SseFloat.Multiply(x, y, isDouble, mxcsr, ref flags),
                FloatOperation.Divide => SseFloat.Divide(x, y, isDouble, mxcsr, ref flags),
                FloatOperation.Minimum => SseFloat.Minimum(x, y, isDouble, mxcsr, ref flags),
                FloatOperation.Maximum => SseFloat.Maximum(x, y, isDouble, mxcsr, ref flags),
                _ => SseFloat.SquareRoot(y, isDouble, mxcsr, ref flags),
            };
            result = WithLane(result, lane, r, isDouble);
        }
        CompleteSimdFloat(flags);
        WriteXmm(destination, result);
    }

    /// <summary>CMPccSS/SD/PS/PD with the predicates 0-7 (EQ, LT, LE, UNORD, NEQ, NLT, NLE, ORD): all-ones or zero per lane.</summary>
    private void ExecuteFloatCompare(ref Instruction instruction, bool isDouble, bool scalar)
    {
        int predicate = instruction.Immediate8 & 7;
        int destination = XmmIndex(instruction.Op0Register);
        Vector128<ulong> b = ReadFloatSource(ref instruction, isDouble, scalar);
        Vector128<ulong> a = ReadXmm(destination);
        uint mxcsr = Fpu.Mxcsr, flags = 0;
        int lanes = scalar ? 1 : isDouble ? 2 : 4;
        ulong allOnes = isDouble ? ulong.MaxValue : uint.MaxValue;
        Vector128<ulong> result = a;
        for (int lane = 0; lane < lanes; lane++)
        {
            bool holds = SseFloat.ComparePredicate(GetLane(a, lane, isDouble), GetLane(b, lane, isDouble), isDouble, predicate, mxcsr, ref flags);
            result = WithLane(result, lane, holds ? allOnes : 0, isDouble);
        }
        CompleteSimdFloat(flags);
        WriteXmm(destination, result);
    }

    /// <summary>COMISS/COMISD/UCOMISS/UCOMISD: ZF, PF, CF from the ordering (unordered sets all three); OF, SF, AF cleared.</summary>
    private void ExecuteOrderedCompare(ref Instruction instruction, bool isDouble, bool signalOnQuietNaN)
    {
        int size = isDouble ? 8 : 4;
        ulong right = ReadScalarSource(ref instruction, 1, size);
        ulong left = ReadScalarSource(ref instruction, 0, size);
        uint flags = 0;
        SseFloat.Ordering ordering = SseFloat.Compare(left, right, isDouble, Fpu.Mxcsr, signalOnQuietNaN, ref flags);
        CompleteSimdFloat(flags);
        SetArithmeticFlags(ordering switch
        {
            SseFloat.Ordering.Unordered => X86.FlagZero | X86.FlagParity | X86.FlagCarry,
            SseFloat.Ordering.Less => X86.FlagCarry,
            SseFloat.Ordering.Equal => X86.FlagZero,
            _ => 0,
        });
    }

    private void ExecuteIntegerToScalar(ref Instruction instruction, bool toDouble)
    {
        int size = OperandSize(ref instruction, 1);
        long integer = SignExtend(ReadOperand(ref instruction, 1, size), size);
        uint flags = 0;
        ulong bits = SseFloat.FromInteger(integer, toDouble, Fpu.Mxcsr, ref flags);
        CompleteSimdFloat(flags);
        WriteScalarLane(XmmIndex(instruction.Op0Register), bits, toDouble);
    }

    private void ExecuteScalarToInteger(ref Instruction instruction, bool isDouble, bool truncate)
    {
        ulong source = ReadScalarSource(ref instruction, 1, isDouble ? 8 : 4);
        bool to64 = RegisterSize(instruction.Op0Register) == 8;
        uint flags = 0;
        ulong converted = SseFloat.ToInteger(source, isDouble, to64, truncate, Fpu.Mxcsr, ref flags);
        CompleteSimdFloat(flags);
        WriteRegister(instruction.Op0Register, converted);
    }

    private void ExecuteScalarFloatConversion(ref Instruction instruction, bool toDouble)
    {
        ulong source = ReadScalarSource(ref instruction, 1, toDouble ? 4 : 8);
        uint flags = 0;
        ulong bits = SseFloat.ConvertFloat(source, toDouble, Fpu.Mxcsr, ref flags);
        CompleteSimdFloat(flags);
        WriteScalarLane(XmmIndex(instruction.Op0Register), bits, toDouble);
    }

    private void ExecutePackedConversion(ref Instruction instruction, Mnemonic mnemonic)
    {
        int destination = XmmIndex(instruction.Op0Register);
        // CVTPS2PD and CVTDQ2PD read only 64 bits of memory, without an alignment demand.
        Vector128<ulong> source = instruction.Op1Kind == OpKind.Memory && instruction.MemorySize.GetSize() == 8
            ? Vector128.Create(ReadOperand(ref instruction, 1, 8), 0UL)
            : ReadXmmOperand(ref instruction, 1, aligned: true);
        uint mxcsr = Fpu.Mxcsr, flags = 0;
        Vector128<ulong> result = Vector128<ulong>.Zero;
        switch (mnemonic)
        {
            case Mnemonic.Cvtps2pd:
                for (int lane = 0; lane < 2; lane++)
                    result = WithLane(result, lane, SseFloat.ConvertFloat(GetLane(source, lane, false), true, mxcsr, ref flags), true);
                break;
            case Mnemonic.Cvtpd2ps:
                for (int lane = 0; lane < 2; lane++)
                    result = WithLane(result, lane, SseFloat.ConvertFloat(GetLane(source, lane, true), false, mxcsr, ref flags), false);
                break;
            case Mnemonic.Cvtdq2ps:
                for (int lane = 0; lane < 4; lane++)
                    result = WithLane(result, lane, SseFloat.FromInteger((int)GetLane(source, lane, false), false, mxcsr, ref flags), false);
                break;
            case Mnemonic.Cvtdq2pd:
                for (int lane = 0; lane < 2; lane++)
                    result = WithLane(result, lane, SseFloat.FromInteger((int)GetLane(source, lane, false), true, mxcsr, ref flags), true);
                break;
            case Mnemonic.Cvtps2dq:
            case Mnemonic.Cvttps2dq:
            {
                bool truncate = mnemonic == Mnemonic.Cvttps2dq;
                for (int lane = 0; lane < 4; lane++)
                    result = WithLane(result, lane, SseFloat.ToInteger(GetLane(source, lane, false), false, false, truncate, mxcsr, ref flags), false);
                break;
            }
            default: // CVTPD2DQ, CVTTPD2DQ: two doubles to the low two dwords, the high quadword zeroed
            {
                bool truncate = mnemonic == Mnemonic.Cvttpd2dq;
                for (int lane = 0; lane < 2; lane++)
                    result = WithLane(result, lane, SseFloat.ToInteger(GetLane(source, lane, true), true, false, truncate, mxcsr, ref flags), false);
                break;
            }
        }
        CompleteSimdFloat(flags);
        WriteXmm(destination, result);
    }
}
