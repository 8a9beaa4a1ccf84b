using System.Numerics;
using System.Runtime.CompilerServices;
using Iced.Intel;

namespace KvmSharp.Soft.Cpu;

public sealed unsafe partial class X86Cpu
{
    private static readonly sbyte[] s_gprIndex;
    private static readonly byte[] s_gprSize;
    private static readonly bool[] s_gprHigh8;

    static X86Cpu()
    {
        int count = 0;
        foreach (Register r in Enum.GetValues<Register>()) count = Math.Max(count, (int)r + 1);
        s_gprIndex = new sbyte[count];
        s_gprSize = new byte[count];
        s_gprHigh8 = new bool[count];
        Array.Fill(s_gprIndex, (sbyte)-1);
        for (int i = 0; i < 16; i++)
        {
            Set(Register.AX + i, i, 2);
            Set(Register.EAX + i, i, 4);
            Set(Register.RAX + i, i, 8);
        }
        for (int i = 0; i < 4; i++)
        {
            Set(Register.AL + i, i, 1);
            Set(Register.AH + i, i, 1);
            s_gprHigh8[(int)(Register.AH + i)] = true;
        }
        for (int i = 4; i < 16; i++)
            Set(Register.SPL + (i - 4), i, 1);

        static void Set(Register r, int index, int size)
        {
            s_gprIndex[(int)r] = (sbyte)index;
            s_gprSize[(int)r] = (byte)size;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong SizeMask(int size) => size == 8 ? ulong.MaxValue : (1UL << (size * 8)) - 1;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong SignBit(int size) => 1UL << (size * 8 - 1);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static long SignExtend(ulong value, int size) => size switch
    {
        1 => (sbyte)value,
        2 => (short)value,
        4 => (int)value,
        _ => (long)value,
    };

    // ---- Registers ------------------------------------------------------------------------------

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ulong ReadRegister(Register register)
    {
        int index = s_gprIndex[(int)register];
        if (index < 0) return ReadSpecialRegister(register);
        ulong value = Gpr[index];
        return s_gprSize[(int)register] switch
        {
            1 => s_gprHigh8[(int)register] ? (value >> 8) & 0xFF : value & 0xFF,
            2 => value & 0xFFFF,
            4 => value & 0xFFFFFFFF,
            _ => value,
        };
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void WriteRegister(Register register, ulong value)
    {
        int index = s_gprIndex[(int)register];
        if (index < 0)
        {
            WriteSpecialRegister(register, value);
            return;
        }
        ref ulong slot = ref Gpr[index];
        switch (s_gprSize[(int)register])
        {
            case 1:
                if (s_gprHigh8[(int)register]) slot = (slot & ~0xFF00UL) | ((value & 0xFF) << 8);
                else slot = (slot & ~0xFFUL) | (value & 0xFF);
                break;
            case 2: slot = (slot & ~0xFFFFUL) | (value & 0xFFFF); break;
            case 4: slot = value & 0xFFFFFFFF; break;
            default: slot = value; break;
        }
    }

    private ulong ReadSpecialRegister(Register register)
    {
        if (register.IsSegmentRegister()) return Segments[register - Register.ES].Selector;
        throw new UnsupportedInstructionException($"register {register} as an integer operand");
    }

    private void WriteSpecialRegister(Register register, ulong value) =>
        throw new UnsupportedInstructionException($"register {register} as an integer destination");

    private static int RegisterSize(Register register) => s_gprSize[(int)register];

    // ---- Generic operands -----------------------------------------------------------------------

    /// <summary>Operand width in bytes of operand <paramref name="op"/> (register or memory).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int OperandSize(ref Instruction instruction, int op)
    {
        OpKind kind = instruction.GetOpKind(op);
        if (kind == OpKind.Register)
        {
            Register r = instruction.GetOpRegister(op);
            int size = s_gprSize[(int)r];
            return size != 0 ? size : r.GetSize();
        }
        return instruction.MemorySize.GetSize();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ulong ReadOperand(ref Instruction instruction, int op, int size)
    {
        switch (instruction.GetOpKind(op))
        {
            case OpKind.Register:
                return ReadRegister(instruction.GetOpRegister(op));
            case OpKind.Memory:
                return ReadMemory(MemorySegment(ref instruction), EffectiveAddress(ref instruction), size);
            default:
                return instruction.GetImmediate(op) & SizeMask(size);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void WriteOperand(ref Instruction instruction, int op, int size, ulong value)
    {
        if (instruction.GetOpKind(op) == OpKind.Register)
            WriteRegister(instruction.GetOpRegister(op), value);
        else
            WriteMemory(MemorySegment(ref instruction), EffectiveAddress(ref instruction), size, value);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int MemorySegment(ref Instruction instruction) => instruction.MemorySegment - Register.ES;

    /// <summary>Offset within the segment of the explicit memory operand, wrapped to the address size.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    /// <summary>The address size (2, 4 or 8 bytes) of the instruction's memory operand, as EffectiveAddress decides it.</summary>
    private int MemoryAddressSize(ref Instruction instruction)
    {
        Register baseRegister = instruction.MemoryBase;
        if (baseRegister == Register.RIP) return 8;
        if (baseRegister == Register.EIP) return 4;
        if (baseRegister != Register.None) return s_gprSize[(int)baseRegister];
        if (instruction.MemoryIndex != Register.None) return s_gprSize[(int)instruction.MemoryIndex];
        int displSize = instruction.MemoryDisplSize;
        return displSize >= 2 ? displSize : _bitness / 8;
    }

    private ulong EffectiveAddress(ref Instruction instruction)
    {
        Register baseRegister = instruction.MemoryBase;
        Register indexRegister = instruction.MemoryIndex;
        ulong address = instruction.MemoryDisplacement64;
        int addressSize;
        if (baseRegister != Register.None)
        {
            if (baseRegister == Register.RIP)
                return _nextRip + (address - instruction.NextIP);
            if (baseRegister == Register.EIP)
                return (_nextRip + (address - instruction.NextIP)) & 0xFFFFFFFF;
            address += Gpr[s_gprIndex[(int)baseRegister]];
            addressSize = s_gprSize[(int)baseRegister];
        }
        else if (indexRegister != Register.None)
        {
            addressSize = s_gprSize[(int)indexRegister];
        }
        else
        {
            int displSize = instruction.MemoryDisplSize;
            addressSize = displSize >= 2 ? displSize : _bitness / 8;
        }
        if (indexRegister != Register.None)
            address += Gpr[s_gprIndex[(int)indexRegister]] * (ulong)instruction.MemoryIndexScale;
        return addressSize switch
        {
            2 => address & 0xFFFF,
            4 => address & 0xFFFFFFFF,
            _ => address,
        };
    }

    /// <summary>Linear address of the explicit memory operand, checked for the access.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ulong MemoryLinear(ref Instruction instruction, int size, AccessKind kind) =>
        ToLinear(MemorySegment(ref instruction), EffectiveAddress(ref instruction), size, kind);

    /// <summary>Operand size in bytes implied by the instruction's code (for instructions without a sized operand).</summary>
    private int StackWidth => _mode64 ? 8 : Segments[(int)SegmentIndex.SS].Db ? 4 : 2;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Parity(ulong result) => (BitOperations.PopCount(result & 0xFF) & 1) == 0 ? X86.FlagParity : 0;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong SignZeroParity(ulong result, int size)
    {
        ulong flags = Parity(result);
        if ((result & SizeMask(size)) == 0) flags |= X86.FlagZero;
        if ((result & SignBit(size)) != 0) flags |= X86.FlagSign;
        return flags;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void SetArithmeticFlags(ulong flags)
    {
        // All six are replaced, so pending lazy flags need not be worked out first.
        _rflags = (_rflags & ~X86.ArithmeticFlags) | flags;
        _lazyKind = LazyFlagsKind.None;
    }

    private bool CarryFlag => (Rflags & X86.FlagCarry) != 0;

    /// <summary>Iced derives the condition from the code with a chain of range checks; a table is cheaper per instruction.</summary>
    private static readonly ConditionCode[] s_conditionByCode = BuildConditionTable();

    private static ConditionCode[] BuildConditionTable()
    {
        Code[] codes = Enum.GetValues<Code>();
        int max = 0;
        foreach (Code c in codes) max = Math.Max(max, (int)c);
        var table = new ConditionCode[max + 1];
        foreach (Code c in codes) table[(int)c] = c.ConditionCode();
        return table;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool Condition(ref Instruction instruction) => Condition(s_conditionByCode[(int)instruction.Code]);

    private bool Condition(ConditionCode code)
    {
        ulong f = Rflags;
        bool cf = (f & X86.FlagCarry) != 0, zf = (f & X86.FlagZero) != 0, sf = (f & X86.FlagSign) != 0;
        bool of = (f & X86.FlagOverflow) != 0, pf = (f & X86.FlagParity) != 0;
        return code switch
        {
            ConditionCode.o => of,
            ConditionCode.no => !of,
            ConditionCode.b => cf,
            ConditionCode.ae => !cf,
            ConditionCode.e => zf,
            ConditionCode.ne => !zf,
            ConditionCode.be => cf || zf,
            ConditionCode.a => !cf && !zf,
            ConditionCode.s => sf,
            ConditionCode.ns => !sf,
            ConditionCode.p => pf,
            ConditionCode.np => !pf,
            ConditionCode.l => sf != of,
            ConditionCode.ge => sf == of,
            ConditionCode.le => zf || sf != of,
            ConditionCode.g => !zf && sf == of,
            _ => true,
        };
    }
}
