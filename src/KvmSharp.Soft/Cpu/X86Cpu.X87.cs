using Iced.Intel;

namespace KvmSharp.Soft.Cpu;

/// <summary>
/// x87 floating point. Registers keep the architectural 80-bit format (in ST order, as FXSAVE stores them) but
/// arithmetic is carried out in double precision: results are exact for values a double represents and rounded to
/// 53 bits otherwise. Exceptions are recorded in FSW for stack faults only; #MF is never raised.
/// </summary>
public sealed unsafe partial class X86Cpu
{
    private const ushort FswC0 = 1 << 8, FswC1 = 1 << 9, FswC2 = 1 << 10, FswC3 = 1 << 14;
    private const ushort FswInvalid = 1 << 0, FswStackFault = 1 << 6;

    private int X87Top => (Fpu.Fsw >> 11) & 7;

    private void SetX87Top(int top) => Fpu.Fsw = (ushort)((Fpu.Fsw & ~0x3800) | ((top & 7) << 11));

    private bool X87Valid(int stIndex) => (Fpu.Ftwx & (1 << ((X87Top + stIndex) & 7))) != 0;

    private double X87Read(int stIndex)
    {
        if (!X87Valid(stIndex))
        {
            Fpu.Fsw |= FswInvalid | FswStackFault;
            Fpu.Fsw &= unchecked((ushort)~FswC1);
            return double.NaN;
        }
        return ExtendedToDouble(Fpu.St[stIndex * 2], (ushort)Fpu.St[stIndex * 2 + 1]);
    }

    private void X87Write(int stIndex, double value)
    {
        DoubleToExtended(value, out ulong mantissa, out ushort signExponent);
        Fpu.St[stIndex * 2] = mantissa;
        Fpu.St[stIndex * 2 + 1] = signExponent;
        Fpu.Ftwx |= (byte)(1 << ((X87Top + stIndex) & 7));
    }

    private void X87Push(double value)
    {
        if (X87Valid(7))
        {
            Fpu.Fsw |= FswInvalid | FswStackFault | FswC1;
            value = double.NaN;
        }
        for (int i = 7; i > 0; i--)
        {
            Fpu.St[i * 2] = Fpu.St[(i - 1) * 2];
            Fpu.St[i * 2 + 1] = Fpu.St[(i - 1) * 2 + 1];
        }
        SetX87Top(X87Top - 1);
        X87Write(0, value);
    }

    private void X87Pop()
    {
        Fpu.Ftwx &= (byte)~(1 << X87Top);
        for (int i = 0; i < 7; i++)
        {
            Fpu.St[i * 2] = Fpu.St[(i + 1) * 2];
            Fpu.St[i * 2 + 1] = Fpu.St[(i + 1) * 2 + 1];
        }
        Fpu.St[14] = 0;
        Fpu.St[15] = 0;
        SetX87Top(X87Top + 1);
    }

    private static double ExtendedToDouble(ulong mantissa, ushort signExponent)
    {
        bool negative = (signExponent & 0x8000) != 0;
        int exponent = signExponent & 0x7FFF;
        double magnitude;
        if (exponent == 0x7FFF)
            magnitude = (mantissa << 1) == 0 ? double.PositiveInfinity : double.NaN;
        else if (mantissa == 0)
            magnitude = 0;
        else
            magnitude = Math.ScaleB(mantissa, (exponent == 0 ? 1 : exponent) - 16383 - 63);
        return negative ? -magnitude : magnitude;
    }

    private static void DoubleToExtended(double value, out ulong mantissa, out ushort signExponent)
    {
        ulong bits = BitConverter.DoubleToUInt64Bits(value);
        ushort sign = (ushort)((bits >> 48) & 0x8000);
        int exponent = (int)((bits >> 52) & 0x7FF);
        ulong fraction = bits & 0xFFFFFFFFFFFFFUL;
        if (exponent == 0x7FF)
        {
            mantissa = 0x8000000000000000UL | (fraction << 11) | (fraction != 0 ? 0x4000000000000000UL : 0);
            signExponent = (ushort)(sign | 0x7FFF);
            return;
        }
        if (exponent == 0)
        {
            if (fraction == 0)
            {
                mantissa = 0;
                signExponent = sign;
                return;
            }
            // Double denormals are normal numbers in the wider exponent range.
            int shift = System.Numerics.BitOperations.LeadingZeroCount(fraction);
            mantissa = fraction << shift;
            signExponent = (ushort)(sign | (1 - 1023 + 16383 - (shift - 11)));
            return;
        }
        mantissa = 0x8000000000000000UL | (fraction << 11);
        signExponent = (ushort)(sign | (exponent - 1023 + 16383));
    }

    private double ReadX87Memory(ref Instruction instruction)
    {
        MemorySize memorySize = instruction.MemorySize;
        int segment = MemorySegment(ref instruction);
        ulong address = EffectiveAddress(ref instruction);
        switch (memorySize)
        {
            case MemorySize.Float32: return BitConverter.UInt32BitsToSingle((uint)ReadMemory(segment, address, 4));
            case MemorySize.Float64: return BitConverter.UInt64BitsToDouble(ReadMemory(segment, address, 8));
            case MemorySize.Float80:
            {
                ulong mantissa = ReadMemory(segment, address, 8);
                ushort signExponent = (ushort)ReadMemory(segment, address + 8, 2);
                return ExtendedToDouble(mantissa, signExponent);
            }
            case MemorySize.Int16: return (short)ReadMemory(segment, address, 2);
            case MemorySize.Int32: return (int)ReadMemory(segment, address, 4);
            case MemorySize.Int64: return (long)ReadMemory(segment, address, 8);
        }
        throw Unsupported(ref instruction);
    }

    private void WriteX87Memory(ref Instruction instruction, double value, bool truncate)
    {
        int segment = MemorySegment(ref instruction);
        ulong address = EffectiveAddress(ref instruction);
        switch (instruction.MemorySize)
        {
            case MemorySize.Float32:
                WriteMemory(segment, address, 4, BitConverter.SingleToUInt32Bits((float)value));
                return;
            case MemorySize.Float64:
                WriteMemory(segment, address, 8, BitConverter.DoubleToUInt64Bits(value));
                return;
            case MemorySize.Float80:
            {
                DoubleToExtended(value, out ulong mantissa, out ushort signExponent);
                ToLinear(segment, address, 10, AccessKind.Write);
                WriteMemory(segment, address, 8, mantissa);
                WriteMemory(segment, address + 8, 2, signExponent);
                return;
            }
            case MemorySize.Int16:
            case MemorySize.Int32:
            case MemorySize.Int64:
            {
                int size = instruction.MemorySize == MemorySize.Int16 ? 2 : instruction.MemorySize == MemorySize.Int32 ? 4 : 8;
                double rounded = truncate ? Math.Truncate(value) : RoundX87(value);
                double limit = Math.ScaleB(1.0, size * 8 - 1);
                ulong integer;
                if (double.IsNaN(rounded) || rounded >= limit || rounded < -limit)
                {
                    // Integer indefinite.
                    Fpu.Fsw |= FswInvalid;
                    integer = SignBit(size);
                }
                else
                {
                    integer = (ulong)(long)rounded & SizeMask(size);
                }
                WriteMemory(segment, address, size, integer);
                return;
            }
        }
        throw Unsupported(ref instruction);
    }

    /// <summary>Rounds per FCW.RC.</summary>
    private double RoundX87(double value) => ((Fpu.Fcw >> 10) & 3) switch
    {
        0 => Math.Round(value, MidpointRounding.ToEven),
        1 => Math.Floor(value),
        2 => Math.Ceiling(value),
        _ => Math.Truncate(value),
    };

    private static int StIndex(Register register) => register - Register.ST0;

    /// <summary>Returns false when the instruction is not an x87 instruction this CPU implements.</summary>
    private bool TryExecuteX87(ref Instruction instruction)
    {
        Mnemonic mnemonic = instruction.Mnemonic;
        switch (mnemonic)
        {
            case Mnemonic.Fld:
            {
                double value = instruction.Op0Kind == OpKind.Memory ? ReadX87Memory(ref instruction) : X87Read(StIndex(instruction.Op0Register));
                X87Push(value);
                return true;
            }
            case Mnemonic.Fild:
                X87Push(ReadX87Memory(ref instruction));
                return true;
            case Mnemonic.Fbld:
            {
                // 18 packed BCD digits, sign in bit 79.
                int segment = MemorySegment(ref instruction);
                ulong address = EffectiveAddress(ref instruction);
                ulong low = ReadMemory(segment, address, 8);
                ulong high = ReadMemory(segment, address + 8, 2);
                double value = 0;
                for (int digit = 17; digit >= 0; digit--)
                {
                    ulong nibble = digit >= 16 ? (high >> ((digit - 16) * 4)) & 0xF : (low >> (digit * 4)) & 0xF;
                    value = value * 10 + nibble;
                }
                X87Push((high & 0x8000) != 0 ? -value : value);
                return true;
            }
            case Mnemonic.Fbstp:
            {
                double rounded = RoundX87(X87Read(0));
                int segment = MemorySegment(ref instruction);
                ulong address = EffectiveAddress(ref instruction);
                ulong low = 0, high = 0;
                if (double.IsNaN(rounded) || Math.Abs(rounded) >= 1e18)
                {
                    // Packed-BCD indefinite.
                    Fpu.Fsw |= FswInvalid;
                    low = 0xC000000000000000UL;
                    high = 0xFFFF;
                }
                else
                {
                    ulong magnitude = (ulong)Math.Abs(rounded);
                    for (int digit = 0; digit < 18; digit++)
                    {
                        ulong nibble = magnitude % 10;
                        magnitude /= 10;
                        if (digit < 16) low |= nibble << (digit * 4);
                        else high |= nibble << ((digit - 16) * 4);
                    }
                    if (rounded < 0 || (rounded == 0 && double.IsNegative(rounded))) high |= 0x8000;
                }
                ToLinear(segment, address, 10, AccessKind.Write);
                WriteMemory(segment, address, 8, low);
                WriteMemory(segment, address + 8, 2, high);
                X87Pop();
                return true;
            }
            case Mnemonic.Fst: case Mnemonic.Fstp: case Mnemonic.Fstpnce:
            {
                double value = X87Read(0);
                if (instruction.Op0Kind == OpKind.Memory) WriteX87Memory(ref instruction, value, truncate: false);
                else X87Write(StIndex(instruction.Op0Register), value);
                if (mnemonic != Mnemonic.Fst) X87Pop();
                return true;
            }
            case Mnemonic.Fist: case Mnemonic.Fistp: case Mnemonic.Fisttp:
                WriteX87Memory(ref instruction, X87Read(0), truncate: mnemonic == Mnemonic.Fisttp);
                if (mnemonic != Mnemonic.Fist) X87Pop();
                return true;
            case Mnemonic.Fldz: X87Push(0.0); return true;
            case Mnemonic.Fld1: X87Push(1.0); return true;
            case Mnemonic.Fldpi: X87Push(Math.PI); return true;
            case Mnemonic.Fldl2e: X87Push(1.4426950408889634); return true;
            case Mnemonic.Fldln2: X87Push(0.6931471805599453); return true;
            case Mnemonic.Fldl2t: X87Push(3.3219280948873622); return true;
            case Mnemonic.Fldlg2: X87Push(0.3010299956639812); return true;
            case Mnemonic.Fchs: X87Write(0, -X87Read(0)); return true;
            case Mnemonic.Fabs: X87Write(0, Math.Abs(X87Read(0))); return true;
            case Mnemonic.Fsqrt: X87Write(0, Math.Sqrt(X87Read(0))); return true;
            case Mnemonic.Frndint: X87Write(0, RoundX87(X87Read(0))); return true;
            case Mnemonic.Fsin: X87Write(0, Math.Sin(X87Read(0))); Fpu.Fsw &= unchecked((ushort)~FswC2); return true;
            case Mnemonic.Fcos: X87Write(0, Math.Cos(X87Read(0))); Fpu.Fsw &= unchecked((ushort)~FswC2); return true;
            case Mnemonic.Fptan: X87Write(0, Math.Tan(X87Read(0))); X87Push(1.0); Fpu.Fsw &= unchecked((ushort)~FswC2); return true;
            case Mnemonic.Fpatan: X87Write(1, Math.Atan2(X87Read(1), X87Read(0))); X87Pop(); return true;
            case Mnemonic.F2xm1: X87Write(0, Math.Pow(2, X87Read(0)) - 1); return true;
            case Mnemonic.Fyl2x: X87Write(1, X87Read(1) * Math.Log2(X87Read(0))); X87Pop(); return true;
            case Mnemonic.Fscale: X87Write(0, Math.ScaleB(X87Read(0), (int)Math.Clamp(Math.Truncate(X87Read(1)), -100000, 100000))); return true;
            case Mnemonic.Fprem:
            case Mnemonic.Fprem1:
            {
                double dividend = X87Read(0), divisor = X87Read(1);
                double quotient = mnemonic == Mnemonic.Fprem ? Math.Truncate(dividend / divisor) : Math.Round(dividend / divisor, MidpointRounding.ToEven);
                // FPREM truncates the quotient (like C's fmod); FPREM1 rounds it to nearest (IEEE remainder).
                double remainder = mnemonic == Mnemonic.Fprem ? dividend % divisor : Math.IEEERemainder(dividend, divisor);
                X87Write(0, remainder);
                long q = double.IsFinite(quotient) ? (long)Math.Abs(quotient) : 0;
                Fpu.Fsw = (ushort)((Fpu.Fsw & ~(FswC0 | FswC1 | FswC2 | FswC3)) |
                    ((q & 4) != 0 ? FswC0 : 0) | ((q & 1) != 0 ? FswC1 : 0) | ((q & 2) != 0 ? FswC3 : 0));
                return true;
            }
            case Mnemonic.Fxch:
            {
                int other = instruction.OpCount > 1 ? StIndex(instruction.Op1Register) : instruction.OpCount == 1 ? StIndex(instruction.Op0Register) : 1;
                if (other == 0 && instruction.OpCount > 1) other = StIndex(instruction.Op0Register);
                double a = X87Read(0), b = X87Read(other);
                X87Write(0, b);
                X87Write(other, a);
                return true;
            }
            case Mnemonic.Ffree:
                Fpu.Ftwx &= (byte)~(1 << ((X87Top + StIndex(instruction.Op0Register)) & 7));
                return true;
            case Mnemonic.Fincstp:
            case Mnemonic.Fdecstp:
            {
                bool increment = mnemonic == Mnemonic.Fincstp;
                Span<ulong> copy = stackalloc ulong[16];
                for (int i = 0; i < 16; i++) copy[i] = Fpu.St[i];
                for (int i = 0; i < 8; i++)
                {
                    int from = increment ? (i + 1) & 7 : (i + 7) & 7;
                    Fpu.St[i * 2] = copy[from * 2];
                    Fpu.St[i * 2 + 1] = copy[from * 2 + 1];
                }
                SetX87Top(increment ? X87Top + 1 : X87Top - 1);
                return true;
            }
            case Mnemonic.Fadd: case Mnemonic.Faddp: case Mnemonic.Fiadd:
            case Mnemonic.Fsub: case Mnemonic.Fsubp: case Mnemonic.Fisub:
            case Mnemonic.Fsubr: case Mnemonic.Fsubrp: case Mnemonic.Fisubr:
            case Mnemonic.Fmul: case Mnemonic.Fmulp: case Mnemonic.Fimul:
            case Mnemonic.Fdiv: case Mnemonic.Fdivp: case Mnemonic.Fidiv:
            case Mnemonic.Fdivr: case Mnemonic.Fdivrp: case Mnemonic.Fidivr:
                ExecuteX87Arithmetic(ref instruction, mnemonic);
                return true;
            case Mnemonic.Fcom: case Mnemonic.Fcomp: case Mnemonic.Fcompp:
            case Mnemonic.Fucom: case Mnemonic.Fucomp: case Mnemonic.Fucompp:
            case Mnemonic.Ficom: case Mnemonic.Ficomp:
            {
                double other = instruction.OpCount > 0 && instruction.Op0Kind == OpKind.Memory ? ReadX87Memory(ref instruction)
                    : X87Read(instruction.OpCount > 1 ? StIndex(instruction.Op1Register) : 1);
                SetX87Condition(X87Read(0), other);
                if (mnemonic is Mnemonic.Fcomp or Mnemonic.Fucomp or Mnemonic.Ficomp) X87Pop();
                if (mnemonic is Mnemonic.Fcompp or Mnemonic.Fucompp) { X87Pop(); X87Pop(); }
                return true;
            }
            case Mnemonic.Ftst:
                SetX87Condition(X87Read(0), 0.0);
                return true;
            case Mnemonic.Fcomi: case Mnemonic.Fcomip: case Mnemonic.Fucomi: case Mnemonic.Fucomip:
            {
                double a = X87Read(0), b = X87Read(StIndex(instruction.Op1Register));
                ulong flags = double.IsNaN(a) || double.IsNaN(b) ? X86.FlagZero | X86.FlagParity | X86.FlagCarry
                    : a < b ? X86.FlagCarry : a == b ? X86.FlagZero : 0;
                SetArithmeticFlags(flags);
                if (mnemonic is Mnemonic.Fcomip or Mnemonic.Fucomip) X87Pop();
                return true;
            }
            case Mnemonic.Fxam:
            {
                double value = ExtendedToDouble(Fpu.St[0], (ushort)Fpu.St[1]);
                ushort sign = (Fpu.St[1] & 0x8000) != 0 ? FswC1 : (ushort)0;
                ushort cls = !X87Valid(0) ? (ushort)(FswC3 | FswC0)
                    : double.IsNaN(value) ? FswC0
                    : double.IsInfinity(value) ? (ushort)(FswC2 | FswC0)
                    : value == 0 ? FswC3
                    : (Fpu.St[1] & 0x7FFF) == 0 ? (ushort)(FswC3 | FswC2)
                    : FswC2;
                Fpu.Fsw = (ushort)((Fpu.Fsw & ~(FswC0 | FswC1 | FswC2 | FswC3)) | sign | cls);
                return true;
            }
            case Mnemonic.Fcmovb: case Mnemonic.Fcmove: case Mnemonic.Fcmovbe: case Mnemonic.Fcmovu:
            case Mnemonic.Fcmovnb: case Mnemonic.Fcmovne: case Mnemonic.Fcmovnbe: case Mnemonic.Fcmovnu:
            {
                bool cf = CarryFlag, zf = (Rflags & X86.FlagZero) != 0, pf = (Rflags & X86.FlagParity) != 0;
                bool take = mnemonic switch
                {
                    Mnemonic.Fcmovb => cf, Mnemonic.Fcmove => zf, Mnemonic.Fcmovbe => cf || zf, Mnemonic.Fcmovu => pf,
                    Mnemonic.Fcmovnb => !cf, Mnemonic.Fcmovne => !zf, Mnemonic.Fcmovnbe => !cf && !zf, _ => !pf,
                };
                if (take) X87Write(0, X87Read(StIndex(instruction.Op1Register)));
                return true;
            }
        }
        return false;
    }

    private void SetX87Condition(double a, double b)
    {
        ushort flags = double.IsNaN(a) || double.IsNaN(b) ? (ushort)(FswC0 | FswC2 | FswC3)
            : a < b ? FswC0 : a == b ? FswC3 : (ushort)0;
        Fpu.Fsw = (ushort)((Fpu.Fsw & ~(FswC0 | FswC1 | FswC2 | FswC3)) | flags);
    }

    private void ExecuteX87Arithmetic(ref Instruction instruction, Mnemonic mnemonic)
    {
        int destination;
        double left, right;
        if (instruction.OpCount == 1 && instruction.Op0Kind == OpKind.Memory)
        {
            destination = 0;
            left = X87Read(0);
            right = ReadX87Memory(ref instruction);
        }
        else
        {
            destination = StIndex(instruction.Op0Register);
            int source = instruction.OpCount > 1 ? StIndex(instruction.Op1Register) : 0;
            left = X87Read(destination);
            right = X87Read(source);
        }
        double result = mnemonic switch
        {
            Mnemonic.Fadd or Mnemonic.Faddp or Mnemonic.Fiadd => left + right,
            Mnemonic.Fsub or Mnemonic.Fsubp or Mnemonic.Fisub => left - right,
            Mnemonic.Fsubr or Mnemonic.Fsubrp or Mnemonic.Fisubr => right - left,
            Mnemonic.Fmul or Mnemonic.Fmulp or Mnemonic.Fimul => left * right,
            Mnemonic.Fdiv or Mnemonic.Fdivp or Mnemonic.Fidiv => left / right,
            _ => right / left,
        };
        X87Write(destination, result);
        if (mnemonic is Mnemonic.Faddp or Mnemonic.Fsubp or Mnemonic.Fsubrp or Mnemonic.Fmulp or Mnemonic.Fdivp or Mnemonic.Fdivrp)
            X87Pop();
    }
}
