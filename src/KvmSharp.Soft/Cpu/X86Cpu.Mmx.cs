using System.Runtime.Intrinsics;
using Iced.Intel;

namespace KvmSharp.Soft.Cpu;

/// <summary>
/// MMX: MM0-7 alias the mantissas of the physical x87 registers. Every MMX instruction sets TOP to 0 and tags all
/// registers valid (EMMS empties them), so while MMX code runs ST(i) and MMi name the same storage.
/// </summary>
public sealed unsafe partial class X86Cpu
{
    private static bool UsesMmx(ref Instruction instruction)
    {
        for (int i = 0; i < instruction.OpCount; i++)
            if (instruction.GetOpKind(i) == OpKind.Register && instruction.GetOpRegister(i).IsMM()) return true;
        return false;
    }

    /// <summary>Makes TOP 0 without changing which physical register holds what, then marks all registers valid.</summary>
    private void EnterMmxMode()
    {
        int top = X87Top;
        if (top != 0)
        {
            Span<ulong> copy = stackalloc ulong[16];
            for (int i = 0; i < 16; i++) copy[i] = Fpu.St[i];
            for (int physical = 0; physical < 8; physical++)
            {
                int oldStIndex = (physical - top) & 7;
                Fpu.St[physical * 2] = copy[oldStIndex * 2];
                Fpu.St[physical * 2 + 1] = copy[oldStIndex * 2 + 1];
            }
            SetX87Top(0);
        }
        Fpu.Ftwx = 0xFF;
    }

    // MMi is physical register i, which FXSAVE's ST order keeps at ST((i - TOP) mod 8) until EnterMmxMode makes TOP 0.
    private ulong ReadMm(Register register) => Fpu.St[((register - Register.MM0 - X87Top) & 7) * 2];

    private void WriteMm(Register register, ulong value)
    {
        int index = (register - Register.MM0 - X87Top) & 7;
        Fpu.St[index * 2] = value;
        Fpu.St[index * 2 + 1] = 0xFFFF;
    }

    /// <summary>
    /// MASKMOVQ/MASKMOVDQU: stores the bytes of <paramref name="data"/> whose byte in <paramref name="mask"/> has its top bit
    /// set, at DS:rDI (segment overridable) onwards; the other bytes of memory are not touched. The whole operand is checked
    /// first, as on the EPYC: a #PF names rDI even when its byte is not selected, an all-zero mask still faults, and with
    /// CR0.AM and RFLAGS.AC at CPL 3 an operand not aligned to 8 bytes raises #AC, before any #PF.
    /// </summary>
    private void StoreSelectedBytes(ref Instruction instruction, ulong data, ulong mask, int bytes, ulong dataHigh = 0, ulong maskHigh = 0)
    {
        ulong addressMask = SizeMask(StringAddressSize(instruction.Op0Kind));
        ulong start = Gpr[7] & addressMask;
        int segment = MemorySegment(ref instruction);
        ulong linear = SegmentedLinear(segment, start, bytes, AccessKind.Write);
        // The alignment check comes before the page walk here (the EPYC raises #AC for MASKMOVQ at 0xffffffffffffffff,
        // whose page is not present), and asks for 8 bytes for MASKMOVDQU too (probed: #AC at offsets 2, 4 and 12 of 16,
        // none at 8).
        CheckAlignment(linear, 8);
        ProbeWrite(linear, bytes);
        for (int i = 0; i < bytes; i++)
        {
            ulong maskByte = (i < 8 ? mask >> (i * 8) : maskHigh >> ((i - 8) * 8)) & 0xFF;
            if ((maskByte & 0x80) == 0) continue;
            ulong dataByte = (i < 8 ? data >> (i * 8) : dataHigh >> ((i - 8) * 8)) & 0xFF;
            WriteMemory(segment, (start + (ulong)i) & addressMask, 1, dataByte);
        }
    }

    private ulong ReadMmOperand(ref Instruction instruction, int op)
    {
        if (instruction.GetOpKind(op) == OpKind.Register)
        {
            Register register = instruction.GetOpRegister(op);
            if (register.IsMM()) return ReadMm(register);
            if (register.IsXMM()) return ReadXmm(XmmIndex(register)).GetElement(0);
            return ReadRegister(register);
        }
        return ReadMemory(MemorySegment(ref instruction), EffectiveAddress(ref instruction), Math.Min(8, instruction.MemorySize.GetSize()));
    }

    private void ExecuteMmx(ref Instruction instruction)
    {
        if ((Cr0 & X86.Cr0Em) != 0) throw Ud();
        if ((Cr0 & X86.Cr0Ts) != 0) throw Fault(X86.VectorDeviceNotAvailable);
        ComputeMmx(ref instruction);
        // Only an instruction that completes switches the x87 unit to MMX use: one that faults (say, a MOVD store to a
        // read-only page) leaves TOP and the tags as they were, as the processor does.
        EnterMmxMode();
    }

    private void ComputeMmx(ref Instruction instruction)
    {
        Mnemonic mnemonic = instruction.Mnemonic;
        switch (mnemonic)
        {
            case Mnemonic.Movd:
            case Mnemonic.Movq:
            {
                int size = mnemonic == Mnemonic.Movd ? 4 : 8;
                ulong value = ReadMmOperand(ref instruction, 1) & SizeMask(size);
                if (instruction.Op0Kind == OpKind.Register && instruction.Op0Register.IsMM()) WriteMm(instruction.Op0Register, value);
                else if (instruction.Op0Kind == OpKind.Register && instruction.Op0Register.IsXMM()) WriteXmm(XmmIndex(instruction.Op0Register), Vector128.Create(value, 0UL));
                else WriteOperand(ref instruction, 0, size, value);
                return;
            }
            case Mnemonic.Movq2dq:
                WriteXmm(XmmIndex(instruction.Op0Register), Vector128.Create(ReadMm(instruction.Op1Register), 0UL));
                return;
            case Mnemonic.Movdq2q:
                WriteMm(instruction.Op0Register, ReadXmm(XmmIndex(instruction.Op1Register)).GetElement(0));
                return;
            case Mnemonic.Movntq:
                WriteOperand(ref instruction, 0, 8, ReadMm(instruction.Op1Register));
                return;
            case Mnemonic.Pmovmskb:
            {
                ulong value = ReadMm(instruction.Op1Register);
                ulong mask = 0;
                for (int i = 0; i < 8; i++) mask |= ((value >> (i * 8 + 7)) & 1) << i;
                WriteRegister(instruction.Op0Register, mask);
                return;
            }
            case Mnemonic.Pshufw:
            {
                ulong source = ReadMmOperand(ref instruction, 1);
                int order = instruction.Immediate8;
                ulong shuffled = 0;
                for (int i = 0; i < 4; i++) shuffled |= ((source >> (((order >> (2 * i)) & 3) * 16)) & 0xFFFF) << (i * 16);
                WriteMm(instruction.Op0Register, shuffled);
                return;
            }
            case Mnemonic.Pextrw:
                WriteRegister(instruction.Op0Register, (ReadMm(instruction.Op1Register) >> ((instruction.Immediate8 & 3) * 16)) & 0xFFFF);
                return;
            case Mnemonic.Maskmovq:
            {
                ulong data = ReadMm(instruction.Op1Register), mask = ReadMm(instruction.Op2Register);
                // Unlike MOVD/MOVQ stores, MASKMOVQ has switched the x87 unit to MMX use when its store faults (the EPYC's
                // tag word after a #PF in it).
                EnterMmxMode();
                StoreSelectedBytes(ref instruction, data, mask, 8);
                return;
            }
            case Mnemonic.Pinsrw:
            {
                int shift = (instruction.Immediate8 & 3) * 16;
                ulong word = ReadOperand(ref instruction, 1, instruction.Op1Kind == OpKind.Register ? RegisterSize(instruction.Op1Register) : 2) & 0xFFFF;
                WriteMm(instruction.Op0Register, (ReadMm(instruction.Op0Register) & ~(0xFFFFUL << shift)) | (word << shift));
                return;
            }
        }

        if (!instruction.Op0Register.IsMM()) throw Unsupported(ref instruction);
        ulong a = ReadMm(instruction.Op0Register);
        ulong b = instruction.OpCount > 1 && instruction.Op1Kind != OpKind.Immediate8 ? ReadMmOperand(ref instruction, 1) : 0;
        // Reuse the 128-bit implementation: lane-wise operations give the MMX result in the low half; the high-half
        // unpacks work on the upper 32 bits moved down; packs see both operands in one register.
        Vector128<ulong> left, right;
        Mnemonic equivalent = mnemonic;
        switch (mnemonic)
        {
            case Mnemonic.Punpckhbw: case Mnemonic.Punpckhwd: case Mnemonic.Punpckhdq:
                left = Vector128.Create(a >> 32, 0UL);
                right = Vector128.Create(b >> 32, 0UL);
                equivalent = mnemonic switch { Mnemonic.Punpckhbw => Mnemonic.Punpcklbw, Mnemonic.Punpckhwd => Mnemonic.Punpcklwd, _ => Mnemonic.Punpckldq };
                break;
            case Mnemonic.Packsswb: case Mnemonic.Packuswb: case Mnemonic.Packssdw:
                left = Vector128.Create(a, b);
                right = default;
                break;
            default:
                left = Vector128.Create(a, 0UL);
                right = Vector128.Create(b, 0UL);
                break;
        }
        if (!TryComputePacked(ref instruction, equivalent, left, right, out Vector128<ulong> result))
            throw Unsupported(ref instruction);
        WriteMm(instruction.Op0Register, result.GetElement(0));
    }
}
