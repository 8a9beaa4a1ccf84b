using System.Runtime.Intrinsics;
using Iced.Intel;

namespace KvmSharp.Soft.Cpu;

/// <summary>
/// SSE3 on XMM registers: ADDSUBPS/PD, HADDPS/PD, HSUBPS/PD (bit-exact through <see cref="SseFloat"/>, with MXCSR and #XM
/// exactly as the SSE2 arithmetic) and the duplicating moves MOVSLDUP, MOVSHDUP, MOVDDUP. LDDQU is an unaligned load
/// like MOVDQU and lives with it in X86Cpu.Sse.cs; FISTTP is an x87 store (X86Cpu.X87.cs); MONITOR/MWAIT belong to their
/// own CPUID feature, which Soft does not offer.
/// </summary>
public sealed unsafe partial class X86Cpu
{
    private bool TryExecuteSse3(ref Instruction instruction)
    {
        switch (instruction.Mnemonic)
        {
            case Mnemonic.Addsubps: ExecuteSse3Arithmetic(ref instruction, isDouble: false, horizontal: false, subtract: false); return true;
            case Mnemonic.Addsubpd: ExecuteSse3Arithmetic(ref instruction, isDouble: true, horizontal: false, subtract: false); return true;
            case Mnemonic.Haddps: ExecuteSse3Arithmetic(ref instruction, isDouble: false, horizontal: true, subtract: false); return true;
            case Mnemonic.Haddpd: ExecuteSse3Arithmetic(ref instruction, isDouble: true, horizontal: true, subtract: false); return true;
            case Mnemonic.Hsubps: ExecuteSse3Arithmetic(ref instruction, isDouble: false, horizontal: true, subtract: true); return true;
            case Mnemonic.Hsubpd: ExecuteSse3Arithmetic(ref instruction, isDouble: true, horizontal: true, subtract: true); return true;
            case Mnemonic.Movsldup:
            case Mnemonic.Movshdup:
            {
                CheckSseAvailable();
                Vector128<uint> source = ReadXmmOperand(ref instruction, 1, aligned: true).AsUInt32();
                int odd = instruction.Mnemonic == Mnemonic.Movshdup ? 1 : 0;
                uint low = source.GetElement(odd), high = source.GetElement(2 + odd);
                WriteXmm(XmmIndex(instruction.Op0Register), Vector128.Create(low, low, high, high).AsUInt64());
                return true;
            }
            case Mnemonic.Movddup:
            {
                CheckSseAvailable();
                // The memory form reads only 64 bits and, unlike the other 128-bit SSE3 forms, does not demand alignment.
                ulong value = instruction.Op1Kind == OpKind.Register
                    ? ReadXmm(XmmIndex(instruction.Op1Register)).GetElement(0)
                    : ReadOperand(ref instruction, 1, 8);
                WriteXmm(XmmIndex(instruction.Op0Register), Vector128.Create(value, value));
                return true;
            }
        }
        return false;
    }

    /// <summary>
    /// The alternating and horizontal forms. ADDSUB subtracts in the even lanes and adds in the odd ones (destination op
    /// source, lane by lane). HADD/HSUB combine neighbouring lanes, even lane first: the lower half of the result comes
    /// from the destination's pairs, the upper half from the source's. Every lane is computed before MXCSR decides.
    /// </summary>
    private void ExecuteSse3Arithmetic(ref Instruction instruction, bool isDouble, bool horizontal, bool subtract)
    {
        CheckSseAvailable();
        int destination = XmmIndex(instruction.Op0Register);
        Vector128<ulong> b = ReadXmmOperand(ref instruction, 1, aligned: true);
        Vector128<ulong> a = ReadXmm(destination);
        uint mxcsr = Fpu.Mxcsr, flags = 0;
        int lanes = isDouble ? 2 : 4;
        Vector128<ulong> result = default;
        for (int lane = 0; lane < lanes; lane++)
        {
            ulong x, y;
            bool laneSubtracts;
            if (horizontal)
            {
                Vector128<ulong> pairs = lane < lanes / 2 ? a : b;
                int first = 2 * (lane % (lanes / 2));
                x = GetLane(pairs, first, isDouble);
                y = GetLane(pairs, first + 1, isDouble);
                laneSubtracts = subtract;
            }
            else
            {
                x = GetLane(a, lane, isDouble);
                y = GetLane(b, lane, isDouble);
                laneSubtracts = lane % 2 == 0;
            }
            ulong r = laneSubtracts
                ? SseFloat.Subtract(x, y, isDouble, mxcsr, ref flags)
                : SseFloat.Add(x, y, isDouble, mxcsr, ref flags);
            result = WithLane(result, lane, r, isDouble);
        }
        CompleteSimdFloat(flags);
        WriteXmm(destination, result);
    }
}
