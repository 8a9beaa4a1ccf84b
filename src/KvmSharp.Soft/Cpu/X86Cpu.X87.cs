using Iced.Intel;

namespace KvmSharp.Soft.Cpu;

/// <summary>
/// x87 floating point at the unit's own precision: registers hold 80-bit values (in ST order, as FXSAVE stores them),
/// arithmetic goes through <see cref="X87Arithmetic"/> with FCW's rounding, precision and masks, and FSW collects the
/// exception flags, C1 as the round-up bit, and ES/B when an unmasked exception is pending — which the next waiting
/// x87 instruction reports as #MF (CR0.NE=1; with NE=0 the unit carries on as if IGNNE# were asserted).
/// An unmasked invalid, zero-divide or denormal exception leaves the destination, memory and TOP alone; unmasked
/// overflow/underflow deliver the exponent-biased result to registers and nothing to memory.
/// </summary>
public sealed unsafe partial class X86Cpu
{
    private const ushort FswC0 = 1 << 8, FswC1 = 1 << 9, FswC2 = 1 << 10, FswC3 = 1 << 14;
    private const ushort FswConditionCodes = FswC0 | FswC1 | FswC2 | FswC3;
    private const ushort FswStackFault = 1 << 6, FswErrorSummary = 1 << 7, FswBusy = 1 << 15;

    private int X87Top => (Fpu.Fsw >> 11) & 7;

    private void SetX87Top(int top) => Fpu.Fsw = (ushort)((Fpu.Fsw & ~0x3800) | ((top & 7) << 11));

    private bool X87Empty(int stIndex) => (Fpu.Ftwx & (1 << ((X87Top + stIndex) & 7))) == 0;

    private Extended80 X87Get(int stIndex) => new(Fpu.St[stIndex * 2], (ushort)Fpu.St[stIndex * 2 + 1]);

    private void X87Set(int stIndex, Extended80 value)
    {
        Fpu.St[stIndex * 2] = value.Significand;
        Fpu.St[stIndex * 2 + 1] = value.SignExponent;
        Fpu.Ftwx |= (byte)(1 << ((X87Top + stIndex) & 7));
    }

    private void X87Push(Extended80 value)
    {
        for (int i = 7; i > 0; i--)
        {
            Fpu.St[i * 2] = Fpu.St[(i - 1) * 2];
            Fpu.St[i * 2 + 1] = Fpu.St[(i - 1) * 2 + 1];
        }
        SetX87Top(X87Top - 1);
        X87Set(0, value);
    }

    /// <summary>Pops ST0: its physical register keeps its contents (FXSAVE shows them as ST7), only the tag says empty.</summary>
    private void X87Pop()
    {
        Fpu.Ftwx &= (byte)~(1 << X87Top);
        ulong significand = Fpu.St[0], signExponent = Fpu.St[1];
        for (int i = 0; i < 7; i++)
        {
            Fpu.St[i * 2] = Fpu.St[(i + 1) * 2];
            Fpu.St[i * 2 + 1] = Fpu.St[(i + 1) * 2 + 1];
        }
        Fpu.St[14] = significand;
        Fpu.St[15] = signExponent;
        SetX87Top(X87Top + 1);
    }

    private X87Context NewX87Context(bool usePrecisionControl) => new(Fpu.Fcw, usePrecisionControl);

    /// <summary>Records a stack overflow (push onto a full register) or underflow (read of an empty one): IE with SF.</summary>
    private static void X87StackFault(ref X87Context context)
    {
        // A stack fault is the whole story: a denormal operand beside it is not reported (EPYC: a denormal m32 loaded
        // onto a full stack gives IE and SF alone).
        context.Flags &= ~X87Exceptions.Denormal;
        context.Flags |= X87Exceptions.Invalid;
        context.StackFault = true;
    }

    /// <summary>An unmasked invalid-operation, zero-divide or denormal exception stops the instruction before it writes anything.</summary>
    private static bool X87Suppressed(in X87Context context) =>
        (context.Flags & ~context.Masks & (X87Exceptions.Invalid | X87Exceptions.ZeroDivide | X87Exceptions.Denormal)) != 0;

    /// <summary>A store to memory is also suppressed by unmasked overflow or underflow (the SDM leaves memory and the stack alone).</summary>
    private static bool X87StoreSuppressed(in X87Context context) =>
        X87Suppressed(context) || (context.Flags & ~context.Masks & (X87Exceptions.Overflow | X87Exceptions.Underflow)) != 0;

    /// <summary>Merges an instruction's flags into FSW and sets C1 (for instructions that define it).</summary>
    private void CommitX87Status(in X87Context context, bool c1)
    {
        int flags = context.Flags;
        if (context.StackFault) flags &= ~X87Exceptions.Denormal;
        // A suppressed operation delivered nothing, so nothing was rounded up (C1 stays the stack fault's direction).
        if (X87Suppressed(context) && !context.StackFault && context.RoundedUp) c1 = false;
        // A suppressed operation produced no result, so it reports nothing about one (no PE, OE, UE).
        if (X87Suppressed(context)) flags &= X87Exceptions.Invalid | X87Exceptions.ZeroDivide | X87Exceptions.Denormal;
        int fsw = Fpu.Fsw | flags | (context.StackFault ? FswStackFault : 0);
        fsw = c1 ? fsw | FswC1 : fsw & ~FswC1;
        Fpu.Fsw = (ushort)fsw;
        UpdateX87ErrorSummary();
    }

    /// <summary>ES and B follow the exception flags that FCW leaves unmasked.</summary>
    private void UpdateX87ErrorSummary()
    {
        if ((Fpu.Fsw & ~Fpu.Fcw & X87Exceptions.All) != 0) Fpu.Fsw |= FswErrorSummary | FswBusy;
        else Fpu.Fsw &= unchecked((ushort)~(FswErrorSummary | FswBusy));
    }

    /// <summary>#MF before a waiting x87 instruction when an unmasked exception is pending.</summary>
    private void CheckPendingX87Exception()
    {
        if ((Fpu.Fsw & FswErrorSummary) != 0 && (Cr0 & X86.Cr0Ne) != 0) throw Fault(X86.VectorFloatingPoint);
    }

    /// <summary>A memory operand widened exactly to 80 bits; binary32/64 denormals raise DE, SNaNs stay signaling.</summary>
    private Extended80 ReadX87Memory(ref Instruction instruction, ref X87Context context)
    {
        int segment = MemorySegment(ref instruction);
        ulong address = EffectiveAddress(ref instruction);
        bool denormal;
        Extended80 value;
        switch (instruction.MemorySize)
        {
            case MemorySize.Float32: value = Extended80.FromBinary32((uint)ReadMemory(segment, address, 4), out denormal); break;
            case MemorySize.Float64: value = Extended80.FromBinary64(ReadMemory(segment, address, 8), out denormal); break;
            case MemorySize.Float80:
            {
                ulong significand = ReadMemory(segment, address, 8);
                return new(significand, (ushort)ReadMemory(segment, address + 8, 2));
            }
            case MemorySize.Int16: return Extended80.FromInt64((short)ReadMemory(segment, address, 2));
            case MemorySize.Int32: return Extended80.FromInt64((int)ReadMemory(segment, address, 4));
            case MemorySize.Int64: return Extended80.FromInt64((long)ReadMemory(segment, address, 8));
            default: throw Unsupported(ref instruction);
        }
        if (denormal) context.Flags |= X87Exceptions.Denormal;
        return value;
    }

    private void WriteX87Memory80(ref Instruction instruction, Extended80 value)
    {
        int segment = MemorySegment(ref instruction);
        ulong address = EffectiveAddress(ref instruction);
        ToLinear(segment, address, 10, AccessKind.Write);
        WriteMemory(segment, address, 8, value.Significand);
        WriteMemory(segment, address + 8, 2, value.SignExponent);
    }

    private static int StIndex(Register register) => register - Register.ST0;

    /// <summary>Returns false when the instruction is not an x87 instruction this CPU implements.</summary>
    private bool TryExecuteX87(ref Instruction instruction)
    {
        Mnemonic mnemonic = instruction.Mnemonic;
        switch (mnemonic)
        {
            case Mnemonic.Fld:
            {
                X87Context context = NewX87Context(false);
                Extended80 value;
                bool denormalSource = false;
                if (instruction.Op0Kind == OpKind.Memory)
                {
                    value = ReadX87Memory(ref instruction, ref context);
                    // A denormal m32/m64 is loaded even with DE unmasked (the EPYC completes the load, then reports DE
                    // with ES set), so it does not take part in suppressing the push.
                    denormalSource = (context.Flags & X87Exceptions.Denormal) != 0;
                    context.Flags &= ~X87Exceptions.Denormal;
                    // Only the narrower formats check for SNaNs; an 80-bit load copies the encoding as it is.
                    if (instruction.MemorySize != MemorySize.Float80 && value.IsNaN) value = X87Arithmetic.QuietNaN(value, ref context);
                }
                else if (X87Empty(StIndex(instruction.Op0Register)))
                {
                    X87StackFault(ref context);
                    value = Extended80.Indefinite;
                }
                else value = X87Get(StIndex(instruction.Op0Register));
                X87PushResult(value, ref context);
                if (denormalSource && !context.StackFault)
                {
                    Fpu.Fsw |= X87Exceptions.Denormal;
                    UpdateX87ErrorSummary();
                }
                return true;
            }
            case Mnemonic.Fild:
            {
                X87Context context = NewX87Context(false);
                X87PushResult(ReadX87Memory(ref instruction, ref context), ref context);
                return true;
            }
            case Mnemonic.Fbld:
            {
                X87Context context = NewX87Context(false);
                X87PushResult(ReadPackedBcd(ref instruction), ref context);
                return true;
            }
            case Mnemonic.Fldz: X87PushConstant(Extended80.Zero(false)); return true;
            case Mnemonic.Fld1: X87PushConstant(Extended80.One); return true;
            case Mnemonic.Fldpi: X87PushConstant(X87Arithmetic.Constant(0xC90FDAA22168C234, 0x4000, true, RoundingControl)); return true;
            case Mnemonic.Fldl2e: X87PushConstant(X87Arithmetic.Constant(0xB8AA3B295C17F0BB, 0x3FFF, true, RoundingControl)); return true;
            case Mnemonic.Fldl2t: X87PushConstant(X87Arithmetic.Constant(0xD49A784BCD1B8AFE, 0x4000, false, RoundingControl)); return true;
            case Mnemonic.Fldlg2: X87PushConstant(X87Arithmetic.Constant(0x9A209A84FBCFF798, 0x3FFD, true, RoundingControl)); return true;
            case Mnemonic.Fldln2: X87PushConstant(X87Arithmetic.Constant(0xB17217F7D1CF79AB, 0x3FFE, true, RoundingControl)); return true;
            case Mnemonic.Fstpnce when X87Empty(0):
                // The D9 D8+i alias of FSTP: from an empty ST0 the EPYC stores nothing, reports nothing and only pops.
                X87Pop();
                Fpu.Fsw &= unchecked((ushort)~FswC1);
                return true;
            case Mnemonic.Fst: case Mnemonic.Fstp: case Mnemonic.Fstpnce:
                ExecuteX87Store(ref instruction, pop: mnemonic != Mnemonic.Fst);
                return true;
            case Mnemonic.Fist: case Mnemonic.Fistp: case Mnemonic.Fisttp:
                ExecuteX87IntegerStore(ref instruction, pop: mnemonic != Mnemonic.Fist, truncate: mnemonic == Mnemonic.Fisttp);
                return true;
            case Mnemonic.Fbstp:
                ExecuteX87PackedBcdStore(ref instruction);
                return true;
            case Mnemonic.Fchs: case Mnemonic.Fabs:
            case Mnemonic.Fsqrt: case Mnemonic.Frndint:
            case Mnemonic.Fsin: case Mnemonic.Fcos: case Mnemonic.F2xm1:
                ExecuteX87Unary(mnemonic);
                return true;
            case Mnemonic.Fadd: case Mnemonic.Faddp: case Mnemonic.Fiadd:
            case Mnemonic.Fsub: case Mnemonic.Fsubp: case Mnemonic.Fisub:
            case Mnemonic.Fsubr: case Mnemonic.Fsubrp: case Mnemonic.Fisubr:
            case Mnemonic.Fmul: case Mnemonic.Fmulp: case Mnemonic.Fimul:
            case Mnemonic.Fdiv: case Mnemonic.Fdivp: case Mnemonic.Fidiv:
            case Mnemonic.Fdivr: case Mnemonic.Fdivrp: case Mnemonic.Fidivr:
                ExecuteX87Arithmetic(ref instruction, mnemonic);
                return true;
            case Mnemonic.Fscale: case Mnemonic.Fprem: case Mnemonic.Fprem1:
            case Mnemonic.Fpatan: case Mnemonic.Fyl2x: case Mnemonic.Fyl2xp1:
                ExecuteX87Binary(mnemonic);
                return true;
            case Mnemonic.Fxtract: case Mnemonic.Fptan: case Mnemonic.Fsincos:
                ExecuteX87Splitting(mnemonic);
                return true;
            case Mnemonic.Fxch:
            {
                int other = instruction.OpCount > 1 ? StIndex(instruction.Op1Register) : instruction.OpCount == 1 ? StIndex(instruction.Op0Register) : 1;
                if (other == 0 && instruction.OpCount > 1) other = StIndex(instruction.Op0Register);
                X87Context context = NewX87Context(false);
                Extended80 a = X87Get(0), b = X87Get(other);
                if (X87Empty(0) || X87Empty(other))
                {
                    X87StackFault(ref context);
                    if (X87Empty(0)) a = Extended80.Indefinite;
                    if (X87Empty(other)) b = Extended80.Indefinite;
                }
                if (!X87Suppressed(context))
                {
                    X87Set(0, b);
                    X87Set(other, a);
                }
                CommitX87Status(context, c1: false);
                return true;
            }
            case Mnemonic.Ffree:
                Fpu.Ftwx &= (byte)~(1 << ((X87Top + StIndex(instruction.Op0Register)) & 7));
                // The SDM leaves C0-C3 undefined; the EPYC clears C1 (and keeps the others).
                Fpu.Fsw &= unchecked((ushort)~FswC1);
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
                Fpu.Fsw &= unchecked((ushort)~FswC1);
                return true;
            }
            case Mnemonic.Fcom: case Mnemonic.Fcomp: case Mnemonic.Fcompp:
            case Mnemonic.Fucom: case Mnemonic.Fucomp: case Mnemonic.Fucompp:
            case Mnemonic.Ficom: case Mnemonic.Ficomp: case Mnemonic.Ftst:
                ExecuteX87Compare(ref instruction, mnemonic);
                return true;
            case Mnemonic.Fcomi: case Mnemonic.Fcomip: case Mnemonic.Fucomi: case Mnemonic.Fucomip:
                ExecuteX87CompareIntoFlags(ref instruction, mnemonic);
                return true;
            case Mnemonic.Fxam:
                ExecuteX87Examine();
                return true;
            case Mnemonic.Fcmovb: case Mnemonic.Fcmove: case Mnemonic.Fcmovbe: case Mnemonic.Fcmovu:
            case Mnemonic.Fcmovnb: case Mnemonic.Fcmovne: case Mnemonic.Fcmovnbe: case Mnemonic.Fcmovnu:
            {
                bool cf = CarryFlag, zf = (Rflags & X86.FlagZero) != 0, pf = (Rflags & X86.FlagParity) != 0;
                bool take = mnemonic switch
                {
                    Mnemonic.Fcmovb => cf, Mnemonic.Fcmove => zf, Mnemonic.Fcmovbe => cf || zf, Mnemonic.Fcmovu => pf,
                    Mnemonic.Fcmovnb => !cf, Mnemonic.Fcmovne => !zf, Mnemonic.Fcmovnbe => !cf && !zf, _ => !pf,
                };
                int source = StIndex(instruction.Op1Register);
                X87Context context = NewX87Context(false);
                if (X87Empty(0) || X87Empty(source))
                {
                    // The EPYC delivers the masked response whether or not the condition holds.
                    X87StackFault(ref context);
                    if (!X87Suppressed(context)) X87Set(0, Extended80.Indefinite);
                    CommitX87Status(context, c1: false);
                }
                else if (take) X87Set(0, X87Get(source));
                return true;
            }
        }
        return false;
    }

    private int RoundingControl => (Fpu.Fcw >> 10) & 3;

    /// <summary>Pushes a loaded value, or reports the stack overflow (IE, SF, C1=1) a push onto a full register is.</summary>
    private void X87PushResult(Extended80 value, ref X87Context context)
    {
        // A source that was already empty (FLD ST(i)) is the fault reported, as an underflow (C1 = 0), even onto a full stack.
        bool overflow = !X87Empty(7) && !context.StackFault;
        if (!X87Empty(7) && context.StackFault) value = Extended80.Indefinite;
        if (overflow)
        {
            X87StackFault(ref context);
            value = Extended80.Indefinite;
        }
        if (!X87Suppressed(context)) X87Push(value);
        CommitX87Status(context, c1: overflow);
    }

    /// <summary>FLDZ, FLD1 and the irrational constants: no exception but stack overflow, C1 cleared (SDM).</summary>
    private void X87PushConstant(Extended80 value)
    {
        X87Context context = NewX87Context(false);
        X87PushResult(value, ref context);
    }

    private Extended80 ReadPackedBcd(ref Instruction instruction)
    {
        int segment = MemorySegment(ref instruction);
        ulong address = EffectiveAddress(ref instruction);
        ulong low = ReadMemory(segment, address, 8);
        ulong high = ReadMemory(segment, address + 8, 2);
        long magnitude = 0;
        for (int digit = 17; digit >= 0; digit--)
        {
            ulong nibble = digit >= 16 ? (high >> ((digit - 16) * 4)) & 0xF : (low >> (digit * 4)) & 0xF;
            magnitude = magnitude * 10 + (long)nibble;
        }
        bool negative = (high & 0x8000) != 0;
        return magnitude == 0 ? Extended80.Zero(negative) : Extended80.FromInt64(negative ? -magnitude : magnitude);
    }

    private void ExecuteX87Store(ref Instruction instruction, bool pop)
    {
        ProbeX87Destination(ref instruction);
        X87Context context = NewX87Context(false);
        Extended80 value = X87Get(0);
        bool empty = X87Empty(0);
        if (empty)
        {
            X87StackFault(ref context);
            value = Extended80.Indefinite;
        }
        if (instruction.Op0Kind == OpKind.Memory)
        {
            int segment = MemorySegment(ref instruction);
            ulong address = EffectiveAddress(ref instruction);
            switch (instruction.MemorySize)
            {
                case MemorySize.Float32:
                {
                    uint bits = empty ? 0xFFC00000u : X87Arithmetic.ToBinary32(value, ref context);
                    if (X87StoreSuppressed(context)) break;
                    WriteMemory(segment, address, 4, bits);
                    break;
                }
                case MemorySize.Float64:
                {
                    ulong bits = empty ? 0xFFF8000000000000UL : X87Arithmetic.ToBinary64(value, ref context);
                    if (X87StoreSuppressed(context)) break;
                    WriteMemory(segment, address, 8, bits);
                    break;
                }
                case MemorySize.Float80:
                    if (!X87StoreSuppressed(context)) WriteX87Memory80(ref instruction, value);
                    break;
                default:
                    throw Unsupported(ref instruction);
            }
            if (X87StoreSuppressed(context))
            {
                // Nothing was delivered, so nothing was inexact or rounded up (as the EPYC reports it).
                context.Flags &= ~X87Exceptions.Precision;
                CommitX87Status(context, c1: false);
                return;
            }
        }
        else
        {
            if (X87Suppressed(context))
            {
                CommitX87Status(context, c1: false);
                return;
            }
            X87Set(StIndex(instruction.Op0Register), value);
        }
        if (pop) X87Pop();
        CommitX87Status(context, c1: context.RoundedUp);
    }

    /// <summary>
    /// A store's destination is checked before any x87 exception is looked at: the EPYC raises #PF for FST/FISTP to a
    /// read-only page even when the value is an unmasked invalid operation that stores nothing.
    /// </summary>
    private void ProbeX87Destination(ref Instruction instruction)
    {
        if (instruction.Op0Kind != OpKind.Memory) return;
        int size = instruction.MemorySize.GetSize();
        ProbeWrite(MemoryLinear(ref instruction, size, AccessKind.Write), size);
    }

    private void ExecuteX87IntegerStore(ref Instruction instruction, bool pop, bool truncate)
    {
        ProbeX87Destination(ref instruction);
        X87Context context = NewX87Context(false);
        int size = instruction.MemorySize switch { MemorySize.Int16 => 2, MemorySize.Int32 => 4, _ => 8 };
        long integer = 0;
        bool valid = false;
        if (X87Empty(0)) X87StackFault(ref context);
        else valid = X87Arithmetic.ToInteger(X87Get(0), size * 8, truncate, ref context, out integer);
        if (!X87Suppressed(context))
        {
            // Out of range, NaN or empty with IE masked: the integer indefinite (only the sign bit set).
            WriteOperand(ref instruction, 0, size, valid ? (ulong)integer & SizeMask(size) : SignBit(size));
            if (pop) X87Pop();
        }
        CommitX87Status(context, c1: context.RoundedUp);
    }

    private void ExecuteX87PackedBcdStore(ref Instruction instruction)
    {
        X87Context context = NewX87Context(false);
        ulong low = 0xC000000000000000UL, high = 0xFFFF; // packed-BCD indefinite
        if (X87Empty(0)) X87StackFault(ref context);
        else
        {
            Extended80 value = X87Get(0);
            X87Context attempt = context;
            if (X87Arithmetic.ToInteger(value, 64, truncate: false, ref attempt, out long integer) &&
                integer is > -1_000_000_000_000_000_000 and < 1_000_000_000_000_000_000)
            {
                context = attempt;
                ulong magnitude = (ulong)Math.Abs(integer);
                low = 0;
                high = value.Sign ? 0x8000UL : 0;
                for (int digit = 0; digit < 18; digit++)
                {
                    ulong nibble = magnitude % 10;
                    magnitude /= 10;
                    if (digit < 16) low |= nibble << (digit * 4);
                    else high |= nibble << ((digit - 16) * 4);
                }
            }
            else context.Flags |= X87Exceptions.Invalid;
        }
        if (!X87Suppressed(context))
        {
            int segment = MemorySegment(ref instruction);
            ulong address = EffectiveAddress(ref instruction);
            ToLinear(segment, address, 10, AccessKind.Write);
            WriteMemory(segment, address, 8, low);
            WriteMemory(segment, address + 8, 2, high);
            X87Pop();
        }
        CommitX87Status(context, c1: context.RoundedUp);
    }

    private void ExecuteX87Arithmetic(ref Instruction instruction, Mnemonic mnemonic)
    {
        X87Context context = NewX87Context(true);
        int destination, source;
        Extended80 right;
        bool empty;
        if (instruction.OpCount == 1 && instruction.Op0Kind == OpKind.Memory)
        {
            destination = 0;
            right = ReadX87Memory(ref instruction, ref context);
            empty = X87Empty(0);
        }
        else
        {
            destination = StIndex(instruction.Op0Register);
            source = instruction.OpCount > 1 ? StIndex(instruction.Op1Register) : 0;
            right = X87Get(source);
            empty = X87Empty(destination) || X87Empty(source);
        }
        Extended80 left = X87Get(destination), result;
        if (empty)
        {
            context.Flags &= ~X87Exceptions.Denormal;
            X87StackFault(ref context);
            result = Extended80.Indefinite;
        }
        else result = mnemonic switch
        {
            Mnemonic.Fadd or Mnemonic.Faddp or Mnemonic.Fiadd => X87Arithmetic.Add(left, right, ref context),
            Mnemonic.Fsub or Mnemonic.Fsubp or Mnemonic.Fisub => X87Arithmetic.Subtract(left, right, ref context),
            Mnemonic.Fsubr or Mnemonic.Fsubrp or Mnemonic.Fisubr => X87Arithmetic.Subtract(right, left, ref context),
            Mnemonic.Fmul or Mnemonic.Fmulp or Mnemonic.Fimul => X87Arithmetic.Multiply(left, right, ref context),
            Mnemonic.Fdiv or Mnemonic.Fdivp or Mnemonic.Fidiv => X87Arithmetic.Divide(left, right, ref context),
            _ => X87Arithmetic.Divide(right, left, ref context),
        };
        if (!X87Suppressed(context))
        {
            X87Set(destination, result);
            if (mnemonic is Mnemonic.Faddp or Mnemonic.Fsubp or Mnemonic.Fsubrp or Mnemonic.Fmulp or Mnemonic.Fdivp or Mnemonic.Fdivrp)
                X87Pop();
        }
        CommitX87Status(context, c1: context.RoundedUp);
    }

    /// <summary>Instructions that replace ST0 with a function of it.</summary>
    private void ExecuteX87Unary(Mnemonic mnemonic)
    {
        X87Context context = NewX87Context(mnemonic == Mnemonic.Fsqrt);
        Extended80 value = X87Get(0), result;
        bool c2 = false;
        if (X87Empty(0))
        {
            X87StackFault(ref context);
            result = Extended80.Indefinite;
        }
        else
        {
            switch (mnemonic)
            {
                case Mnemonic.Fchs: result = value.Negate(); break;
                case Mnemonic.Fabs: result = value.Abs(); break;
                case Mnemonic.Fsqrt: result = X87Arithmetic.SquareRoot(value, ref context); break;
                case Mnemonic.Frndint: result = X87Arithmetic.RoundToInteger(value, ref context); break;
                default:
                    result = X87Transcendental(mnemonic, value, default, ref context, out c2);
                    if (c2) result = value;
                    break;
            }
        }
        if (!X87Suppressed(context)) X87Set(0, result);
        CommitX87Status(context, c1: context.RoundedUp);
        if (mnemonic is Mnemonic.Fsin or Mnemonic.Fcos) Fpu.Fsw = (ushort)(c2 ? Fpu.Fsw | FswC2 : Fpu.Fsw & ~FswC2);
    }

    /// <summary>Instructions that combine ST0 and ST1: FSCALE and FPREM/FPREM1 write ST0; FPATAN, FYL2X, FYL2XP1 write ST1 and pop.</summary>
    private void ExecuteX87Binary(Mnemonic mnemonic)
    {
        X87Context context = NewX87Context(false);
        Extended80 st0 = X87Get(0), st1 = X87Get(1), result;
        int quotientBits = 0;
        bool complete = true;
        if (X87Empty(0) || X87Empty(1))
        {
            X87StackFault(ref context);
            result = Extended80.Indefinite;
        }
        else result = mnemonic switch
        {
            Mnemonic.Fscale => X87Arithmetic.Scale(st0, st1, ref context),
            Mnemonic.Fprem => X87Arithmetic.PartialRemainder(st0, st1, false, ref context, out quotientBits, out complete),
            Mnemonic.Fprem1 => X87Arithmetic.PartialRemainder(st0, st1, true, ref context, out quotientBits, out complete),
            _ => X87Transcendental(mnemonic, st0, st1, ref context, out _),
        };
        bool writesSt1 = mnemonic is Mnemonic.Fpatan or Mnemonic.Fyl2x or Mnemonic.Fyl2xp1;
        ushort codesBefore = (ushort)(Fpu.Fsw & FswConditionCodes);
        if (!X87Suppressed(context))
        {
            if (writesSt1)
            {
                X87Set(1, result);
                X87Pop();
            }
            else X87Set(0, result);
        }
        CommitX87Status(context, c1: context.RoundedUp);
        if (mnemonic is Mnemonic.Fprem or Mnemonic.Fprem1 && (result.IsNaN || X87Suppressed(context)))
        {
            // No remainder, no quotient bits (a NaN, or an unmasked exception that stopped it): the EPYC clears C2
            // ("complete") and C1 but leaves C0 and C3 as they were.
            int codes = codesBefore & (FswC0 | FswC3);
            Fpu.Fsw = (ushort)((Fpu.Fsw & ~FswConditionCodes) | codes);
        }
        else if (mnemonic is Mnemonic.Fprem or Mnemonic.Fprem1 && !X87Suppressed(context))
        {
            // C2 = reduction incomplete; C0, C3, C1 = quotient bits 2, 1, 0 when complete.
            int codes = !complete ? FswC2
                : ((quotientBits & 4) != 0 ? FswC0 : 0) | ((quotientBits & 2) != 0 ? FswC3 : 0) | ((quotientBits & 1) != 0 ? FswC1 : 0);
            Fpu.Fsw = (ushort)((Fpu.Fsw & ~FswConditionCodes) | codes);
        }
    }

    /// <summary>FXTRACT, FPTAN, FSINCOS: replace ST0 and push a second result.</summary>
    private void ExecuteX87Splitting(Mnemonic mnemonic)
    {
        X87Context context = NewX87Context(false);
        Extended80 value = X87Get(0), replacement, pushed;
        bool outOfRange = false;
        if (X87Empty(0) || !X87Empty(7))
        {
            X87StackFault(ref context);
            replacement = pushed = Extended80.Indefinite;
        }
        else if (mnemonic == Mnemonic.Fxtract)
        {
            X87Arithmetic.Extract(value, ref context, out replacement, out pushed);
        }
        else
        {
            replacement = X87Transcendental(mnemonic == Mnemonic.Fptan ? Mnemonic.Fptan : Mnemonic.Fsin, value, default, ref context, out outOfRange);
            pushed = mnemonic == Mnemonic.Fptan ? (replacement.IsNaN ? replacement : Extended80.One)
                : X87Transcendental(Mnemonic.Fcos, value, default, ref context, out _);
        }
        bool overflow = !X87Empty(7) && !X87Empty(0);
        if (!X87Suppressed(context) && !outOfRange)
        {
            X87Set(0, replacement);
            X87Push(pushed);
        }
        CommitX87Status(context, c1: overflow || context.RoundedUp);
        if (mnemonic != Mnemonic.Fxtract) Fpu.Fsw = (ushort)(outOfRange ? Fpu.Fsw | FswC2 : Fpu.Fsw & ~FswC2);
    }

    /// <summary>
    /// The transcendental instructions, computed in double precision: processors differ from each other in their last
    /// bits, so these aim at being close rather than bit-exact. <paramref name="outOfRange"/> is FSIN/FCOS/FPTAN's C2 for
    /// |x| ≥ 2^63, where the operand is left unchanged.
    /// </summary>
    private static Extended80 X87Transcendental(Mnemonic mnemonic, Extended80 x, Extended80 y, ref X87Context context, out bool outOfRange)
    {
        outOfRange = false;
        bool binary = mnemonic is Mnemonic.Fpatan or Mnemonic.Fyl2x or Mnemonic.Fyl2xp1;
        if (x.IsUnsupported || (binary && y.IsUnsupported)) return X87Arithmetic.InvalidResult(ref context);
        if (binary && (x.IsNaN || y.IsNaN)) return X87Arithmetic.PropagateNaN(x, y, ref context);
        if (x.IsNaN) return X87Arithmetic.QuietNaN(x, ref context);
        if (x.IsDenormal || (binary && y.IsDenormal)) context.Flags |= X87Exceptions.Denormal;
        if (mnemonic is Mnemonic.Fsin or Mnemonic.Fcos or Mnemonic.Fptan && !x.IsInfinity && x.Exponent >= Extended80.Bias + 63)
        {
            outOfRange = true;
            return x;
        }
        double a = x.ToDoubleApproximately(), b = y.ToDoubleApproximately();
        double result;
        switch (mnemonic)
        {
            case Mnemonic.Fsin: case Mnemonic.Fcos: case Mnemonic.Fptan:
                if (x.IsInfinity) return X87Arithmetic.InvalidResult(ref context);
                if (x.IsZero && mnemonic != Mnemonic.Fcos) return x;
                result = mnemonic == Mnemonic.Fsin ? Math.Sin(a) : mnemonic == Mnemonic.Fcos ? Math.Cos(a) : Math.Tan(a);
                break;
            case Mnemonic.F2xm1:
                if (x.IsZero) return x;
                if (x.IsInfinity) return x.Sign ? new Extended80(1UL << 63, 0xBFFF) : x;
                result = double.Exp2M1(a);
                break;
            case Mnemonic.Fpatan:
                result = Math.Atan2(b, a);
                break;
            case Mnemonic.Fyl2x:
                if (x.Sign && !x.IsZero) return X87Arithmetic.InvalidResult(ref context);
                if (x.IsZero)
                {
                    if (y.IsZero) return X87Arithmetic.InvalidResult(ref context);
                    if (!y.IsInfinity) context.Flags |= X87Exceptions.ZeroDivide;
                    return Extended80.Infinity(!y.Sign);
                }
                result = b * Math.Log2(a);
                if (double.IsNaN(result)) return X87Arithmetic.InvalidResult(ref context);
                break;
            default:
                result = b * (double.LogP1(a) / Math.Log(2));
                if (double.IsNaN(result)) return X87Arithmetic.InvalidResult(ref context);
                break;
        }
        if (double.IsNaN(result)) return X87Arithmetic.InvalidResult(ref context);
        Extended80 extended = Extended80.FromBinary64(BitConverter.DoubleToUInt64Bits(result), out _);
        if (!extended.IsZero && !extended.IsInfinity) context.Flags |= X87Exceptions.Precision;
        return extended;
    }

    private void ExecuteX87Compare(ref Instruction instruction, Mnemonic mnemonic)
    {
        X87Context context = NewX87Context(false);
        Extended80 other;
        bool empty = X87Empty(0);
        if (mnemonic == Mnemonic.Ftst) other = Extended80.Zero(false);
        else if (instruction.OpCount > 0 && instruction.Op0Kind == OpKind.Memory) other = ReadX87Memory(ref instruction, ref context);
        else
        {
            int index = instruction.OpCount > 1 ? StIndex(instruction.Op1Register) : 1;
            other = X87Get(index);
            empty |= X87Empty(index);
        }
        int relation;
        if (empty)
        {
            context.Flags &= ~X87Exceptions.Denormal;
            X87StackFault(ref context);
            relation = 2;
        }
        else relation = X87Arithmetic.Compare(X87Get(0), other, quietNaNsInvalid: mnemonic is not (Mnemonic.Fucom or Mnemonic.Fucomp or Mnemonic.Fucompp), ref context);
        CommitX87Status(context, c1: false);
        // An unmasked invalid operation still sets the condition codes (as the EPYC does), but pops nothing.
        int codes = relation switch { -1 => FswC0, 0 => FswC3, 1 => 0, _ => FswC0 | FswC2 | FswC3 };
        Fpu.Fsw = (ushort)((Fpu.Fsw & ~(FswC0 | FswC2 | FswC3)) | codes);
        if (X87Suppressed(context)) return;
        if (mnemonic is Mnemonic.Fcomp or Mnemonic.Fucomp or Mnemonic.Ficomp) X87Pop();
        if (mnemonic is Mnemonic.Fcompp or Mnemonic.Fucompp) { X87Pop(); X87Pop(); }
    }

    private void ExecuteX87CompareIntoFlags(ref Instruction instruction, Mnemonic mnemonic)
    {
        X87Context context = NewX87Context(false);
        int index = StIndex(instruction.Op1Register);
        int relation;
        if (X87Empty(0) || X87Empty(index))
        {
            X87StackFault(ref context);
            relation = 2;
        }
        else relation = X87Arithmetic.Compare(X87Get(0), X87Get(index), quietNaNsInvalid: mnemonic is Mnemonic.Fcomi or Mnemonic.Fcomip, ref context);
        // Unlike FCOM, the EPYC leaves C1 alone here (cleared only by a stack fault).
        CommitX87Status(context, c1: !context.StackFault && (Fpu.Fsw & FswC1) != 0);
        // Like FCOM, an unmasked invalid operation still sets the flags (as the EPYC does) but pops nothing.
        SetArithmeticFlags(relation switch
        {
            -1 => X86.FlagCarry,
            0 => X86.FlagZero,
            1 => 0,
            _ => X86.FlagZero | X86.FlagParity | X86.FlagCarry,
        });
        if (X87Suppressed(context)) return;
        if (mnemonic is Mnemonic.Fcomip or Mnemonic.Fucomip) X87Pop();
    }

    /// <summary>FXAM: the class of ST0 in C3, C2, C0 (empty registers included) and its sign in C1; never an exception.</summary>
    private void ExecuteX87Examine()
    {
        Extended80 value = X87Get(0);
        int cls = X87Empty(0) ? FswC3 | FswC0
            : value.IsUnsupported ? 0
            : value.IsNaN ? FswC0
            : value.IsInfinity ? FswC2 | FswC0
            : value.IsZero ? FswC3
            : value.IsDenormal ? FswC3 | FswC2
            : FswC2;
        int sign = value.Sign ? FswC1 : 0;
        Fpu.Fsw = (ushort)((Fpu.Fsw & ~FswConditionCodes) | sign | cls);
    }
}
