using Iced.Intel;

namespace KvmSharp.Soft.Cpu;

public sealed unsafe partial class X86Cpu
{
    /// <summary>x87/SSE/AVX instructions and anything not handled by the integer core.</summary>
    private void ExecuteFloatingPointOrFail(ref Instruction instruction)
    {
        switch (instruction.Mnemonic)
        {
            case Mnemonic.Fninit:
                CheckFpuAvailable();
                Fpu.Fcw = 0x37F;
                Fpu.Fsw = 0;
                Fpu.Ftwx = 0;
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
                Fpu.Fcw = (ushort)ReadOperand(ref instruction, 0, 2);
                return;
            case Mnemonic.Wait:
                return;
        }
        ExecuteSse(ref instruction);
    }

    private void CheckFpuAvailable()
    {
        if ((Cr0 & (X86.Cr0Em | X86.Cr0Ts)) != 0) throw Fault(X86.VectorDeviceNotAvailable);
    }

    private void ExecuteSse(ref Instruction instruction) =>
        throw new UnsupportedInstructionException($"unsupported instruction '{instruction}' ({instruction.Code}) at RIP 0x{_instructionRip:x}");
}
