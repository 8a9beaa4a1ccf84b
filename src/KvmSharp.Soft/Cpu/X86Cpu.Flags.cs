using System.Runtime.CompilerServices;
using Iced.Intel;

namespace KvmSharp.Soft.Cpu;

/// <summary>Which instruction left the arithmetic flags undecided (see <see cref="X86Cpu"/>'s lazy flags).</summary>
internal enum LazyFlagsKind : byte
{
    /// <summary>The arithmetic bits of the stored RFLAGS are current.</summary>
    None,
    Add,
    /// <summary>SUB and CMP.</summary>
    Sub,
    /// <summary>AND, OR, XOR, TEST: CF = OF = AF = 0.</summary>
    Logic,
    /// <summary>INC: CF is the carry before it.</summary>
    Inc,
    Dec,
    Shl,
    Shr,
    Sar,
}

public sealed unsafe partial class X86Cpu
{
    // Most arithmetic results are overwritten before any instruction looks at their flags, so the common ALU shapes
    // record their operands and result and the six arithmetic flags are worked out only when something reads them:
    // a condition (Jcc/SETcc/CMOVcc), a partial flag update, PUSHF/LAHF, event delivery, or the kernel (KVM_GET_REGS).
    // Invariant: the non-arithmetic bits of _rflags are always current; its arithmetic bits are current only while
    // _lazyKind is None. Every read of Rflags goes through the property, which works the flags out. The getter does not
    // store what it computed: the kernel may read registers from another thread while Run executes (a torn read, as
    // before), and a store from there could undo the running CPU's own flag updates.

    private ulong _rflags = X86.FlagReserved1;
    private LazyFlagsKind _lazyKind;
    private int _lazySize;
    private ulong _lazyLeft, _lazyRight, _lazyResult;
    /// <summary>CF before an INC/DEC, which leaves it unchanged.</summary>
    private ulong _lazyCarryIn;

    public ulong Rflags
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => _lazyKind == LazyFlagsKind.None ? _rflags : (_rflags & ~X86.ArithmeticFlags) | LazyArithmeticFlags();
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        set
        {
            _rflags = value;
            _lazyKind = LazyFlagsKind.None;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void DeferFlags(LazyFlagsKind kind, ulong left, ulong right, ulong result, int size)
    {
        _lazyKind = kind;
        _lazySize = size;
        _lazyLeft = left;
        _lazyRight = right;
        _lazyResult = result;
    }

    /// <summary>The six arithmetic flags the recorded instruction produced; the same formulas as <see cref="Compute"/>.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private ulong LazyArithmeticFlags()
    {
        ulong a = _lazyLeft, b = _lazyRight, result = _lazyResult;
        int size = _lazySize;
        ulong sign = SignBit(size);
        ulong flags = SignZeroParity(result, size);
        switch (_lazyKind)
        {
            case LazyFlagsKind.Add:
                flags |= (a ^ b ^ result) & X86.FlagAdjust;
                if (result < a) flags |= X86.FlagCarry;
                if (((a ^ result) & (b ^ result) & sign) != 0) flags |= X86.FlagOverflow;
                return flags;
            case LazyFlagsKind.Sub:
                flags |= (a ^ b ^ result) & X86.FlagAdjust;
                if (a < b) flags |= X86.FlagCarry;
                if (((a ^ b) & (a ^ result) & sign) != 0) flags |= X86.FlagOverflow;
                return flags;
            case LazyFlagsKind.Logic:
                return flags;
            case LazyFlagsKind.Inc:
            case LazyFlagsKind.Dec:
                flags |= ((a ^ 1 ^ result) & X86.FlagAdjust) | _lazyCarryIn;
                if (_lazyKind == LazyFlagsKind.Inc ? result == sign : a == sign) flags |= X86.FlagOverflow;
                return flags;
            default:
            {
                bool carry = ShiftCarry(_lazyKind, a, (int)b, size);
                if (carry) flags |= X86.FlagCarry;
                bool overflow = _lazyKind switch
                {
                    LazyFlagsKind.Shl => ((result & sign) != 0) != carry,
                    LazyFlagsKind.Shr => (a & sign) != 0,
                    _ => false,
                };
                if (overflow) flags |= X86.FlagOverflow;
                return flags;
            }
        }
    }

    private static bool ShiftCarry(LazyFlagsKind kind, ulong a, int count, int size)
    {
        int bits = size * 8;
        return kind switch
        {
            LazyFlagsKind.Shl => count <= bits && ((a >> (bits - count)) & 1) != 0,
            LazyFlagsKind.Shr => count <= bits && ((a >> (count - 1)) & 1) != 0,
            _ => ((SignExtend(a, size) >> Math.Min(count - 1, 63)) & 1) != 0,
        };
    }

    /// <summary>ZF without settling the other flags: every recorded result is already cut to its operand size.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool ZeroFlag() => _lazyKind == LazyFlagsKind.None ? (_rflags & X86.FlagZero) != 0 : _lazyResult == 0;

    /// <summary>CF without settling the other flags (INC/DEC keep it).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ulong CurrentCarry() => _lazyKind == LazyFlagsKind.None ? _rflags & X86.FlagCarry : LazyArithmeticFlags() & X86.FlagCarry;

    /// <summary>
    /// <see cref="Compute"/> for the operations whose flags can wait; the others are computed (and flag-set) at once.
    /// Same results as <see cref="Compute"/>, including CMP and TEST returning the destination unchanged.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ulong ComputeDeferred(AluOp op, ulong a, ulong b, int size)
    {
        ulong mask = SizeMask(size);
        ulong result;
        switch (op)
        {
            case AluOp.Add:
                result = (a + b) & mask;
                DeferFlags(LazyFlagsKind.Add, a, b, result, size);
                return result;
            case AluOp.Sub:
                result = (a - b) & mask;
                DeferFlags(LazyFlagsKind.Sub, a, b, result, size);
                return result;
            case AluOp.Cmp:
                DeferFlags(LazyFlagsKind.Sub, a, b, (a - b) & mask, size);
                return a;
            case AluOp.And:
                result = a & b;
                DeferFlags(LazyFlagsKind.Logic, a, b, result, size);
                return result;
            case AluOp.Test:
                DeferFlags(LazyFlagsKind.Logic, a, b, a & b, size);
                return a;
            case AluOp.Or:
                result = a | b;
                DeferFlags(LazyFlagsKind.Logic, a, b, result, size);
                return result;
            case AluOp.Xor:
                result = a ^ b;
                DeferFlags(LazyFlagsKind.Logic, a, b, result, size);
                return result;
            case AluOp.Inc:
            case AluOp.Dec:
            {
                ulong carry = CurrentCarry();
                result = (op == AluOp.Inc ? a + 1 : a - 1) & mask;
                DeferFlags(op == AluOp.Inc ? LazyFlagsKind.Inc : LazyFlagsKind.Dec, a, 1, result, size);
                _lazyCarryIn = carry;
                return result;
            }
            case AluOp.Shl:
            case AluOp.Shr:
            case AluOp.Sar:
                return ShiftDeferred(op, a, b, size);
            default:
                return Compute(op, a, b, size);
        }
    }

    /// <summary>SHL/SHR/SAR with deferred flags; a masked count of zero changes nothing, flags included.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ulong ShiftDeferred(AluOp op, ulong a, ulong countOperand, int size)
    {
        int count = (int)(countOperand & (size == 8 ? 0x3FUL : 0x1FUL));
        if (count == 0) return a;
        ulong mask = SizeMask(size);
        ulong result;
        LazyFlagsKind kind;
        switch (op)
        {
            case AluOp.Shl:
                result = (a << count) & mask;
                kind = LazyFlagsKind.Shl;
                break;
            case AluOp.Shr:
                result = a >> count;
                kind = LazyFlagsKind.Shr;
                break;
            default:
                result = (ulong)(SignExtend(a, size) >> count) & mask;
                kind = LazyFlagsKind.Sar;
                break;
        }
        DeferFlags(kind, a, (ulong)count, result, size);
        return result;
    }

    /// <summary>A condition evaluated straight from the recorded operands where that is cheap; else from the worked-out flags.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool FastCondition(ConditionCode code)
    {
        switch (_lazyKind)
        {
            case LazyFlagsKind.None:
                return Condition(code);
            case LazyFlagsKind.Sub:
            {
                ulong a = _lazyLeft, b = _lazyRight;
                int shift = 64 - _lazySize * 8;
                long signedA = (long)(a << shift), signedB = (long)(b << shift);
                switch (code)
                {
                    case ConditionCode.e: return a == b;
                    case ConditionCode.ne: return a != b;
                    case ConditionCode.b: return a < b;
                    case ConditionCode.ae: return a >= b;
                    case ConditionCode.be: return a <= b;
                    case ConditionCode.a: return a > b;
                    case ConditionCode.l: return signedA < signedB;
                    case ConditionCode.ge: return signedA >= signedB;
                    case ConditionCode.le: return signedA <= signedB;
                    case ConditionCode.g: return signedA > signedB;
                }
                break;
            }
            case LazyFlagsKind.Logic:
            {
                ulong result = _lazyResult;
                bool zero = result == 0, negative = (result & SignBit(_lazySize)) != 0;
                switch (code)
                {
                    case ConditionCode.e: case ConditionCode.be: return zero;
                    case ConditionCode.ne: case ConditionCode.a: return !zero;
                    case ConditionCode.s: case ConditionCode.l: return negative;
                    case ConditionCode.ns: case ConditionCode.ge: return !negative;
                    case ConditionCode.le: return zero || negative;
                    case ConditionCode.g: return !zero && !negative;
                    case ConditionCode.b: case ConditionCode.o: return false;
                    case ConditionCode.ae: case ConditionCode.no: return true;
                }
                break;
            }
        }
        if (code == ConditionCode.e) return _lazyResult == 0;
        if (code == ConditionCode.ne) return _lazyResult != 0;
        return Condition(code);
    }
}
