using System.Numerics;
using System.Runtime.Intrinsics;
using Iced.Intel;

namespace KvmSharp.Soft.Cpu;

/// <summary>
/// SSE/SSE2 moves, packed integers and dispatch on XMM registers; the floating-point instructions are in
/// X86Cpu.SseFloatingPoint.cs.
/// </summary>
public sealed unsafe partial class X86Cpu
{
    private Vector128<ulong> ReadXmm(int index) => Vector128.Create(Fpu.Xmm[index * 2], Fpu.Xmm[index * 2 + 1]);

    private void WriteXmm(int index, Vector128<ulong> value)
    {
        Fpu.Xmm[index * 2] = value.GetElement(0);
        Fpu.Xmm[index * 2 + 1] = value.GetElement(1);
    }

    private static int XmmIndex(Register register) => register - Register.XMM0;

    private void CheckSseAvailable()
    {
        if ((Cr0 & X86.Cr0Em) != 0 || (Cr4 & X86.Cr4Osfxsr) == 0) throw Ud();
        if ((Cr0 & X86.Cr0Ts) != 0) throw Fault(X86.VectorDeviceNotAvailable);
    }

    /// <summary>Reads a 128-bit operand; <paramref name="aligned"/> demands 16-byte alignment of memory (#GP otherwise).</summary>
    private Vector128<ulong> ReadXmmOperand(ref Instruction instruction, int op, bool aligned)
    {
        if (instruction.GetOpKind(op) == OpKind.Register) return ReadXmm(XmmIndex(instruction.GetOpRegister(op)));
        int size = instruction.MemorySize.GetSize();
        ulong linear = XmmMemoryLinear(ref instruction, Math.Max(size, 1), AccessKind.Read, aligned);
        if (size < 16) return Vector128.Create(ReadLinear(linear, size), 0UL);
        ulong low = ReadLinear(linear, 8);
        ulong high = ReadLinear((linear + 8) & LinearMask, 8);
        return Vector128.Create(low, high);
    }

    /// <summary>
    /// Linear address of an SSE memory operand. A 16-byte form that requires alignment raises #GP when misaligned, before
    /// any alignment check; the other forms get the #AC check (16 bytes: 16-byte alignment, as the processor checks
    /// MOVUPS with CR0.AM and RFLAGS.AC at CPL 3).
    /// </summary>
    private ulong XmmMemoryLinear(ref Instruction instruction, int size, AccessKind kind, bool aligned)
    {
        if (size < 16 || !aligned) return MemoryLinear(ref instruction, size, kind);
        ulong linear = SegmentedLinear(MemorySegment(ref instruction), EffectiveAddress(ref instruction), size, kind);
        if ((linear & 15) != 0) throw Gp0();
        return linear;
    }

    private void WriteXmmMemory(ref Instruction instruction, Vector128<ulong> value, bool aligned)
    {
        int size = instruction.MemorySize.GetSize();
        ulong linear = XmmMemoryLinear(ref instruction, size, AccessKind.Write, aligned);
        if (size < 16)
        {
            WriteLinear(linear, size, value.GetElement(0));
            return;
        }
        Span<byte> bytes = stackalloc byte[16];
        BitConverter.TryWriteBytes(bytes, value.GetElement(0));
        BitConverter.TryWriteBytes(bytes[8..], value.GetElement(1));
        WriteLinearBytes(linear, bytes);
    }

    private void WriteXmmOperand(ref Instruction instruction, int op, Vector128<ulong> value, bool aligned)
    {
        if (instruction.GetOpKind(op) == OpKind.Register) WriteXmm(XmmIndex(instruction.GetOpRegister(op)), value);
        else WriteXmmMemory(ref instruction, value, aligned);
    }

    private void ExecuteSse(ref Instruction instruction)
    {
        if (TryExecuteSsse3(ref instruction) || TryExecuteSse3(ref instruction)) return;
        if (TryExecuteMmxOperandConversion(ref instruction)) return;
        if (UsesMmx(ref instruction))
        {
            ExecuteMmx(ref instruction);
            return;
        }
        if (instruction.Mnemonic == Mnemonic.Maskmovdqu)
        {
            CheckSseAvailable();
            Vector128<ulong> data = ReadXmm(XmmIndex(instruction.Op1Register)), mask = ReadXmm(XmmIndex(instruction.Op2Register));
            StoreSelectedBytes(ref instruction, data.GetElement(0), mask.GetElement(0), 16, data.GetElement(1), mask.GetElement(1));
            return;
        }
        if (instruction.Mnemonic == Mnemonic.Emms)
        {
            CheckFpuAvailable();
            // EMMS also makes TOP 0 (the SDM's table of MMX effects on the x87 state; the EPYC here does the same).
            EnterMmxMode();
            Fpu.Ftwx = 0;
            return;
        }
        switch (instruction.Mnemonic)
        {
            case Mnemonic.Ldmxcsr:
            {
                CheckSseAvailable();
                ulong value = ReadOperand(ref instruction, 0, 4);
                if ((value & ~(ulong)MxcsrMask) != 0) throw Gp0();
                Fpu.Mxcsr = (uint)value;
                return;
            }
            case Mnemonic.Stmxcsr:
                CheckSseAvailable();
                WriteOperand(ref instruction, 0, 4, Fpu.Mxcsr);
                return;
            case Mnemonic.Movnti:
            {
                int size = OperandSize(ref instruction, 1);
                WriteOperand(ref instruction, 0, size, ReadRegister(instruction.Op1Register));
                return;
            }
        }

        CheckSseAvailable();
        Mnemonic mnemonic = instruction.Mnemonic;
        switch (mnemonic)
        {
            // ---- Moves ----
            case Mnemonic.Movaps: case Mnemonic.Movapd: case Mnemonic.Movdqa:
            case Mnemonic.Movntps: case Mnemonic.Movntpd: case Mnemonic.Movntdq: case Mnemonic.Movntdqa:
                WriteXmmOperand(ref instruction, 0, ReadXmmOperand(ref instruction, 1, aligned: true), aligned: true);
                return;
            case Mnemonic.Movups: case Mnemonic.Movupd: case Mnemonic.Movdqu: case Mnemonic.Lddqu:
                WriteXmmOperand(ref instruction, 0, ReadXmmOperand(ref instruction, 1, aligned: false), aligned: false);
                return;
            case Mnemonic.Movd:
            case Mnemonic.Movq:
                ExecuteMovdMovq(ref instruction);
                return;
            case Mnemonic.Movss:
            case Mnemonic.Movsd:
                ExecuteMovScalar(ref instruction, mnemonic == Mnemonic.Movss ? 4 : 8);
                return;
            case Mnemonic.Movlps: case Mnemonic.Movlpd: case Mnemonic.Movhps: case Mnemonic.Movhpd:
            {
                bool high = mnemonic is Mnemonic.Movhps or Mnemonic.Movhpd;
                if (instruction.Op0Kind == OpKind.Memory)
                {
                    Vector128<ulong> source = ReadXmm(XmmIndex(instruction.Op1Register));
                    WriteOperand(ref instruction, 0, 8, source.GetElement(high ? 1 : 0));
                }
                else
                {
                    int index = XmmIndex(instruction.Op0Register);
                    ulong value = ReadOperand(ref instruction, 1, 8);
                    WriteXmm(index, ReadXmm(index).WithElement(high ? 1 : 0, value));
                }
                return;
            }
            case Mnemonic.Movhlps:
            {
                int index = XmmIndex(instruction.Op0Register);
                WriteXmm(index, ReadXmm(index).WithElement(0, ReadXmm(XmmIndex(instruction.Op1Register)).GetElement(1)));
                return;
            }
            case Mnemonic.Movlhps:
            {
                int index = XmmIndex(instruction.Op0Register);
                WriteXmm(index, ReadXmm(index).WithElement(1, ReadXmm(XmmIndex(instruction.Op1Register)).GetElement(0)));
                return;
            }
            case Mnemonic.Pmovmskb:
                WriteRegister(instruction.Op0Register, ReadXmm(XmmIndex(instruction.Op1Register)).AsByte().ExtractMostSignificantBits());
                return;
            case Mnemonic.Movmskps:
                WriteRegister(instruction.Op0Register, ReadXmm(XmmIndex(instruction.Op1Register)).AsUInt32().ExtractMostSignificantBits());
                return;
            case Mnemonic.Movmskpd:
                WriteRegister(instruction.Op0Register, ReadXmm(XmmIndex(instruction.Op1Register)).ExtractMostSignificantBits());
                return;
            case Mnemonic.Pextrw:
            {
                Vector128<ulong> source = ReadXmm(XmmIndex(instruction.Op1Register));
                WriteOperand(ref instruction, 0, instruction.Op0Kind == OpKind.Register ? RegisterSize(instruction.Op0Register) : 2,
                    source.AsUInt16().GetElement(instruction.Immediate8 & 7));
                return;
            }
            case Mnemonic.Pinsrw:
            {
                int index = XmmIndex(instruction.Op0Register);
                ushort value = (ushort)ReadOperand(ref instruction, 1, instruction.Op1Kind == OpKind.Register ? RegisterSize(instruction.Op1Register) : 2);
                WriteXmm(index, ReadXmm(index).AsUInt16().WithElement(instruction.Immediate8 & 7, value).AsUInt64());
                return;
            }
        }

        if (TryExecuteSse41(ref instruction)) return;
        if (TryExecuteSse42(ref instruction)) return;
        if (TryExecutePackedInteger(ref instruction)) return;
        if (TryExecuteFloatingPoint(ref instruction)) return;
        throw Unsupported(ref instruction);
    }

    private void ExecuteMovdMovq(ref Instruction instruction)
    {
        int size = instruction.Mnemonic == Mnemonic.Movd ? 4 : 8;
        if (instruction.Op0Kind == OpKind.Register && instruction.Op0Register.IsXMM())
        {
            ulong value;
            if (instruction.Op1Kind == OpKind.Register && instruction.Op1Register.IsXMM())
                value = ReadXmm(XmmIndex(instruction.Op1Register)).GetElement(0);
            else
                value = ReadOperand(ref instruction, 1, size);
            WriteXmm(XmmIndex(instruction.Op0Register), Vector128.Create(value & SizeMask(size), 0UL));
            return;
        }
        ulong low = ReadXmm(XmmIndex(instruction.Op1Register)).GetElement(0);
        WriteOperand(ref instruction, 0, size, low & SizeMask(size));
    }

    private void ExecuteMovScalar(ref Instruction instruction, int size)
    {
        ulong mask = SizeMask(size);
        if (instruction.Op0Kind == OpKind.Memory)
        {
            WriteOperand(ref instruction, 0, size, ReadXmm(XmmIndex(instruction.Op1Register)).GetElement(0) & mask);
            return;
        }
        int destination = XmmIndex(instruction.Op0Register);
        if (instruction.Op1Kind == OpKind.Memory)
        {
            // A load zeroes the rest of the register.
            WriteXmm(destination, Vector128.Create(ReadOperand(ref instruction, 1, size), 0UL));
            return;
        }
        Vector128<ulong> current = ReadXmm(destination);
        ulong low = (current.GetElement(0) & ~mask) | (ReadXmm(XmmIndex(instruction.Op1Register)).GetElement(0) & mask);
        WriteXmm(destination, current.WithElement(0, low));
    }

    private bool TryExecutePackedInteger(ref Instruction instruction)
    {
        if (instruction.OpCount < 2 || instruction.Op0Kind != OpKind.Register || !instruction.Op0Register.IsXMM())
            return false;
        if (instruction.Op1Kind == OpKind.Register && !instruction.Op1Register.IsXMM())
            return false;
        int destinationIndex = XmmIndex(instruction.Op0Register);
        Vector128<ulong> a = ReadXmm(destinationIndex);
        Vector128<ulong> b = instruction.Op1Kind == OpKind.Immediate8 ? default : ReadXmmOperand(ref instruction, 1, aligned: true);
        if (!TryComputePacked(ref instruction, instruction.Mnemonic, a, b, out Vector128<ulong> result))
            return false;
        if (instruction.Mnemonic != Mnemonic.Ptest) WriteXmm(destinationIndex, result);
        return true;
    }

    /// <summary>The packed-integer operation <paramref name="mnemonic"/> on 128-bit operands (MMX reuses it on the low half).</summary>
    private bool TryComputePacked(ref Instruction instruction, Mnemonic mnemonic, Vector128<ulong> a, Vector128<ulong> b, out Vector128<ulong> result)
    {
        bool immediateShift = instruction.Op1Kind == OpKind.Immediate8;
        int shift = immediateShift ? instruction.Immediate8 : (int)Math.Min(b.GetElement(0), 255UL);
        switch (mnemonic)
        {
            case Mnemonic.Pxor: case Mnemonic.Xorps: case Mnemonic.Xorpd: result = a ^ b; break;
            case Mnemonic.Pand: case Mnemonic.Andps: case Mnemonic.Andpd: result = a & b; break;
            case Mnemonic.Pandn: case Mnemonic.Andnps: case Mnemonic.Andnpd: result = ~a & b; break;
            case Mnemonic.Por: case Mnemonic.Orps: case Mnemonic.Orpd: result = a | b; break;
            case Mnemonic.Paddb: result = (a.AsByte() + b.AsByte()).AsUInt64(); break;
            case Mnemonic.Paddw: result = (a.AsUInt16() + b.AsUInt16()).AsUInt64(); break;
            case Mnemonic.Paddd: result = (a.AsUInt32() + b.AsUInt32()).AsUInt64(); break;
            case Mnemonic.Paddq: result = a + b; break;
            case Mnemonic.Psubb: result = (a.AsByte() - b.AsByte()).AsUInt64(); break;
            case Mnemonic.Psubw: result = (a.AsUInt16() - b.AsUInt16()).AsUInt64(); break;
            case Mnemonic.Psubd: result = (a.AsUInt32() - b.AsUInt32()).AsUInt64(); break;
            case Mnemonic.Psubq: result = a - b; break;
            case Mnemonic.Pcmpeqb: result = Vector128.Equals(a.AsByte(), b.AsByte()).AsUInt64(); break;
            case Mnemonic.Pcmpeqw: result = Vector128.Equals(a.AsUInt16(), b.AsUInt16()).AsUInt64(); break;
            case Mnemonic.Pcmpeqd: result = Vector128.Equals(a.AsUInt32(), b.AsUInt32()).AsUInt64(); break;
            case Mnemonic.Pcmpeqq: result = Vector128.Equals(a, b); break;
            case Mnemonic.Pcmpgtb: result = Vector128.GreaterThan(a.AsSByte(), b.AsSByte()).AsUInt64(); break;
            case Mnemonic.Pcmpgtw: result = Vector128.GreaterThan(a.AsInt16(), b.AsInt16()).AsUInt64(); break;
            case Mnemonic.Pcmpgtd: result = Vector128.GreaterThan(a.AsInt32(), b.AsInt32()).AsUInt64(); break;
            case Mnemonic.Pminub: result = Vector128.Min(a.AsByte(), b.AsByte()).AsUInt64(); break;
            case Mnemonic.Pmaxub: result = Vector128.Max(a.AsByte(), b.AsByte()).AsUInt64(); break;
            case Mnemonic.Pminsw: result = Vector128.Min(a.AsInt16(), b.AsInt16()).AsUInt64(); break;
            case Mnemonic.Pmaxsw: result = Vector128.Max(a.AsInt16(), b.AsInt16()).AsUInt64(); break;
            case Mnemonic.Pminud: result = Vector128.Min(a.AsUInt32(), b.AsUInt32()).AsUInt64(); break;
            case Mnemonic.Pmaxud: result = Vector128.Max(a.AsUInt32(), b.AsUInt32()).AsUInt64(); break;
            case Mnemonic.Pmullw: result = (a.AsInt16() * b.AsInt16()).AsUInt64(); break;
            case Mnemonic.Pmulld: result = (a.AsInt32() * b.AsInt32()).AsUInt64(); break;
            case Mnemonic.Pmuludq:
                result = Vector128.Create((a.GetElement(0) & 0xFFFFFFFF) * (b.GetElement(0) & 0xFFFFFFFF),
                    (a.GetElement(1) & 0xFFFFFFFF) * (b.GetElement(1) & 0xFFFFFFFF));
                break;
            case Mnemonic.Paddusb: result = SaturatingBytes(a, b, add: true); break;
            case Mnemonic.Psubusb: result = SaturatingBytes(a, b, add: false); break;
            case Mnemonic.Pavgb:
            {
                Vector128<byte> x = a.AsByte(), y = b.AsByte();
                Span<byte> bytes = stackalloc byte[16];
                for (int i = 0; i < 16; i++) bytes[i] = (byte)((x.GetElement(i) + y.GetElement(i) + 1) >> 1);
                result = Vector128.Create<byte>(bytes).AsUInt64();
                break;
            }
            case Mnemonic.Pavgw:
            {
                Vector128<ushort> x = a.AsUInt16(), y = b.AsUInt16();
                Span<ushort> words = stackalloc ushort[8];
                for (int i = 0; i < 8; i++) words[i] = (ushort)((x.GetElement(i) + y.GetElement(i) + 1) >> 1);
                result = Vector128.Create<ushort>(words).AsUInt64();
                break;
            }
            case Mnemonic.Psadbw:
            {
                Vector128<byte> x = a.AsByte(), y = b.AsByte();
                ulong low = 0, high = 0;
                for (int i = 0; i < 8; i++) low += (ulong)Math.Abs(x.GetElement(i) - y.GetElement(i));
                for (int i = 8; i < 16; i++) high += (ulong)Math.Abs(x.GetElement(i) - y.GetElement(i));
                result = Vector128.Create(low, high);
                break;
            }
            case Mnemonic.Punpcklbw: result = Interleave(a.AsByte(), b.AsByte(), high: false).AsUInt64(); break;
            case Mnemonic.Punpckhbw: result = Interleave(a.AsByte(), b.AsByte(), high: true).AsUInt64(); break;
            case Mnemonic.Punpcklwd: result = Interleave(a.AsUInt16(), b.AsUInt16(), high: false).AsUInt64(); break;
            case Mnemonic.Punpckhwd: result = Interleave(a.AsUInt16(), b.AsUInt16(), high: true).AsUInt64(); break;
            case Mnemonic.Punpckldq: case Mnemonic.Unpcklps: result = Interleave(a.AsUInt32(), b.AsUInt32(), high: false).AsUInt64(); break;
            case Mnemonic.Punpckhdq: case Mnemonic.Unpckhps: result = Interleave(a.AsUInt32(), b.AsUInt32(), high: true).AsUInt64(); break;
            case Mnemonic.Punpcklqdq: case Mnemonic.Unpcklpd: result = Vector128.Create(a.GetElement(0), b.GetElement(0)); break;
            case Mnemonic.Punpckhqdq: case Mnemonic.Unpckhpd: result = Vector128.Create(a.GetElement(1), b.GetElement(1)); break;
            case Mnemonic.Pshufd:
            {
                Vector128<uint> source = b.AsUInt32();
                int order = instruction.Immediate8;
                result = Vector128.Create(source.GetElement(order & 3), source.GetElement((order >> 2) & 3),
                    source.GetElement((order >> 4) & 3), source.GetElement((order >> 6) & 3)).AsUInt64();
                break;
            }
            case Mnemonic.Pshuflw:
            case Mnemonic.Pshufhw:
            {
                Vector128<ushort> source = b.AsUInt16();
                int order = instruction.Immediate8;
                int baseIndex = mnemonic == Mnemonic.Pshufhw ? 4 : 0;
                Vector128<ushort> shuffled = source;
                for (int i = 0; i < 4; i++) shuffled = shuffled.WithElement(baseIndex + i, source.GetElement(baseIndex + ((order >> (2 * i)) & 3)));
                result = shuffled.AsUInt64();
                break;
            }
            case Mnemonic.Shufps:
            {
                Vector128<uint> x = a.AsUInt32(), y = b.AsUInt32();
                int order = instruction.Immediate8;
                result = Vector128.Create(x.GetElement(order & 3), x.GetElement((order >> 2) & 3),
                    y.GetElement((order >> 4) & 3), y.GetElement((order >> 6) & 3)).AsUInt64();
                break;
            }
            case Mnemonic.Shufpd:
            {
                int order = instruction.Immediate8;
                result = Vector128.Create(a.GetElement(order & 1), b.GetElement((order >> 1) & 1));
                break;
            }
            case Mnemonic.Pslldq:
            case Mnemonic.Psrldq:
            {
                UInt128 value = ((UInt128)a.GetElement(1) << 64) | a.GetElement(0);
                int bytes = Math.Min(shift, 16);
                value = bytes >= 16 ? 0 : mnemonic == Mnemonic.Pslldq ? value << (bytes * 8) : value >> (bytes * 8);
                result = Vector128.Create((ulong)value, (ulong)(value >> 64));
                break;
            }
            case Mnemonic.Psllw: result = shift > 15 ? default : (a.AsUInt16() << shift).AsUInt64(); break;
            case Mnemonic.Pslld: result = shift > 31 ? default : (a.AsUInt32() << shift).AsUInt64(); break;
            case Mnemonic.Psllq: result = shift > 63 ? default : a << shift; break;
            case Mnemonic.Psrlw: result = shift > 15 ? default : (a.AsUInt16() >>> shift).AsUInt64(); break;
            case Mnemonic.Psrld: result = shift > 31 ? default : (a.AsUInt32() >>> shift).AsUInt64(); break;
            case Mnemonic.Psrlq: result = shift > 63 ? default : a >>> shift; break;
            case Mnemonic.Psraw: result = (a.AsInt16() >> Math.Min(shift, 15)).AsUInt64(); break;
            case Mnemonic.Psrad: result = (a.AsInt32() >> Math.Min(shift, 31)).AsUInt64(); break;
            case Mnemonic.Packuswb:
            {
                Span<byte> bytes = stackalloc byte[16];
                Vector128<short> x = a.AsInt16(), y = b.AsInt16();
                for (int i = 0; i < 8; i++)
                {
                    bytes[i] = (byte)Math.Clamp((int)x.GetElement(i), 0, 255);
                    bytes[i + 8] = (byte)Math.Clamp((int)y.GetElement(i), 0, 255);
                }
                result = Vector128.Create<byte>(bytes).AsUInt64();
                break;
            }
            case Mnemonic.Packsswb:
            {
                Span<sbyte> bytes = stackalloc sbyte[16];
                Vector128<short> x = a.AsInt16(), y = b.AsInt16();
                for (int i = 0; i < 8; i++)
                {
                    bytes[i] = (sbyte)Math.Clamp((int)x.GetElement(i), -128, 127);
                    bytes[i + 8] = (sbyte)Math.Clamp((int)y.GetElement(i), -128, 127);
                }
                result = Vector128.Create<sbyte>(bytes).AsUInt64();
                break;
            }
            case Mnemonic.Paddsb: result = SaturateLanes(a, b, 1, signed: true, add: true); break;
            case Mnemonic.Paddsw: result = SaturateLanes(a, b, 2, signed: true, add: true); break;
            case Mnemonic.Psubsb: result = SaturateLanes(a, b, 1, signed: true, add: false); break;
            case Mnemonic.Psubsw: result = SaturateLanes(a, b, 2, signed: true, add: false); break;
            case Mnemonic.Paddusw: result = SaturateLanes(a, b, 2, signed: false, add: true); break;
            case Mnemonic.Psubusw: result = SaturateLanes(a, b, 2, signed: false, add: false); break;
            case Mnemonic.Pmulhw:
            case Mnemonic.Pmulhuw:
            {
                Span<ushort> words = stackalloc ushort[8];
                for (int i = 0; i < 8; i++)
                {
                    int product = mnemonic == Mnemonic.Pmulhw
                        ? a.AsInt16().GetElement(i) * b.AsInt16().GetElement(i)
                        : a.AsUInt16().GetElement(i) * b.AsUInt16().GetElement(i);
                    words[i] = (ushort)(product >> 16);
                }
                result = Vector128.Create<ushort>(words).AsUInt64();
                break;
            }
            case Mnemonic.Pmaddwd:
            {
                Span<int> sums = stackalloc int[4];
                Vector128<short> x = a.AsInt16(), y = b.AsInt16();
                for (int i = 0; i < 4; i++)
                    sums[i] = unchecked(x.GetElement(2 * i) * y.GetElement(2 * i) + x.GetElement(2 * i + 1) * y.GetElement(2 * i + 1));
                result = Vector128.Create<int>(sums).AsUInt64();
                break;
            }
            case Mnemonic.Packssdw:
            {
                Span<short> words = stackalloc short[8];
                Vector128<int> x = a.AsInt32(), y = b.AsInt32();
                for (int i = 0; i < 4; i++)
                {
                    words[i] = (short)Math.Clamp(x.GetElement(i), short.MinValue, short.MaxValue);
                    words[i + 4] = (short)Math.Clamp(y.GetElement(i), short.MinValue, short.MaxValue);
                }
                result = Vector128.Create<short>(words).AsUInt64();
                break;
            }
            case Mnemonic.Ptest:
            {
                ulong flags = 0;
                if ((a & b) == Vector128<ulong>.Zero) flags |= X86.FlagZero;
                if ((~a & b) == Vector128<ulong>.Zero) flags |= X86.FlagCarry;
                SetArithmeticFlags(flags);
                result = a;
                return true;
            }
            default:
                result = default;
                return false;
        }
        return true;
    }

    private static Vector128<ulong> SaturateLanes(Vector128<ulong> a, Vector128<ulong> b, int laneBytes, bool signed, bool add)
    {
        if (laneBytes == 1 && !signed) return SaturatingBytes(a, b, add);
        int count = 16 / laneBytes;
        Span<byte> bytes = stackalloc byte[16];
        for (int i = 0; i < count; i++)
        {
            long x, y, min, max;
            if (laneBytes == 1)
            {
                x = a.AsSByte().GetElement(i); y = b.AsSByte().GetElement(i); min = sbyte.MinValue; max = sbyte.MaxValue;
            }
            else if (signed)
            {
                x = a.AsInt16().GetElement(i); y = b.AsInt16().GetElement(i); min = short.MinValue; max = short.MaxValue;
            }
            else
            {
                x = a.AsUInt16().GetElement(i); y = b.AsUInt16().GetElement(i); min = 0; max = ushort.MaxValue;
            }
            long value = Math.Clamp(add ? x + y : x - y, min, max);
            for (int k = 0; k < laneBytes; k++) bytes[i * laneBytes + k] = (byte)(value >> (k * 8));
        }
        return Vector128.Create<byte>(bytes).AsUInt64();
    }

    private static Vector128<ulong> SaturatingBytes(Vector128<ulong> a, Vector128<ulong> b, bool add)
    {
        Vector128<byte> x = a.AsByte(), y = b.AsByte();
        Span<byte> bytes = stackalloc byte[16];
        for (int i = 0; i < 16; i++)
            bytes[i] = (byte)Math.Clamp(add ? x.GetElement(i) + y.GetElement(i) : x.GetElement(i) - y.GetElement(i), 0, 255);
        return Vector128.Create<byte>(bytes).AsUInt64();
    }

    private static Vector128<T> Interleave<T>(Vector128<T> a, Vector128<T> b, bool high) where T : unmanaged
    {
        int count = Vector128<T>.Count;
        int start = high ? count / 2 : 0;
        Span<T> values = stackalloc T[count];
        for (int i = 0; i < count / 2; i++)
        {
            values[2 * i] = a.GetElement(start + i);
            values[2 * i + 1] = b.GetElement(start + i);
        }
        return Vector128.Create<T>(values);
    }
}
