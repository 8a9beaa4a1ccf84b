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
        }
        ExecuteSse(ref instruction);
    }

    private void CheckFpuAvailable()
    {
        if ((Cr0 & (X86.Cr0Em | X86.Cr0Ts)) != 0) throw Fault(X86.VectorDeviceNotAvailable);
    }

    private UnsupportedInstructionException Unsupported(ref Instruction instruction) =>
        new($"unsupported instruction '{instruction}' ({instruction.Code}) at RIP 0x{_instructionRip:x}");
}

public sealed unsafe partial class X86Cpu
{
    private const uint MxcsrMask = 0xFFFF;

    /// <summary>FXSAVE image (512 bytes): x87 environment, MXCSR, ST0-7, XMM0-15.</summary>
    private void ExecuteFxsave(ref Instruction instruction)
    {
        CheckFpuAvailable();
        ulong linear = MemoryLinear(ref instruction, 512, AccessKind.Write);
        if ((linear & 15) != 0) throw Gp0();
        Span<byte> image = stackalloc byte[512];
        image.Clear();
        BitConverter.TryWriteBytes(image[0..], Fpu.Fcw);
        BitConverter.TryWriteBytes(image[2..], Fpu.Fsw);
        image[4] = Fpu.Ftwx;
        BitConverter.TryWriteBytes(image[6..], Fpu.LastOpcode);
        BitConverter.TryWriteBytes(image[8..], Fpu.LastIp);
        BitConverter.TryWriteBytes(image[16..], Fpu.LastDp);
        BitConverter.TryWriteBytes(image[24..], Fpu.Mxcsr);
        BitConverter.TryWriteBytes(image[28..], MxcsrMask);
        for (int i = 0; i < 16; i++) BitConverter.TryWriteBytes(image[(32 + i * 8)..], Fpu.St[i]);
        int xmmCount = _mode64 ? 16 : 8;
        for (int i = 0; i < xmmCount * 2; i++) BitConverter.TryWriteBytes(image[(160 + i * 8)..], Fpu.Xmm[i]);
        WriteLinearBytes(linear, image);
    }

    private void ExecuteFxrstor(ref Instruction instruction)
    {
        CheckFpuAvailable();
        ulong linear = MemoryLinear(ref instruction, 512, AccessKind.Read);
        if ((linear & 15) != 0) throw Gp0();
        Span<byte> image = stackalloc byte[512];
        ReadLinearBytes(linear, image);
        uint mxcsr = BitConverter.ToUInt32(image[24..]);
        if ((mxcsr & ~MxcsrMask) != 0) throw Gp0();
        Fpu.Fcw = BitConverter.ToUInt16(image[0..]);
        Fpu.Fsw = BitConverter.ToUInt16(image[2..]);
        Fpu.Ftwx = image[4];
        Fpu.LastOpcode = BitConverter.ToUInt16(image[6..]);
        Fpu.LastIp = BitConverter.ToUInt64(image[8..]);
        Fpu.LastDp = BitConverter.ToUInt64(image[16..]);
        Fpu.Mxcsr = mxcsr;
        for (int i = 0; i < 16; i++) Fpu.St[i] = BitConverter.ToUInt64(image[(32 + i * 8)..]);
        int xmmCount = _mode64 ? 16 : 8;
        for (int i = 0; i < xmmCount * 2; i++) Fpu.Xmm[i] = BitConverter.ToUInt64(image[(160 + i * 8)..]);
    }
}
