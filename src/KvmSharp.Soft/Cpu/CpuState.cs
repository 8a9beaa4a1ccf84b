using System.Runtime.CompilerServices;

namespace KvmSharp.Soft.Cpu;

/// <summary>RAX..R15 in hardware encoding order.</summary>
[InlineArray(16)]
public struct GeneralRegisters
{
    private ulong _element0;
}

/// <summary>Sixteen 128-bit XMM registers stored as pairs of 64-bit halves.</summary>
[InlineArray(32)]
public struct XmmRegisterFile
{
    private ulong _element0;
}

/// <summary>Eight x87 registers, 80-bit values each stored in 16 bytes (FXSAVE layout).</summary>
[InlineArray(16)]
public struct X87RegisterFile
{
    private ulong _element0;
}

/// <summary>x87/SSE state, laid out like the FXSAVE image fields.</summary>
public struct FpuState
{
    public ushort Fcw;
    public ushort Fsw;
    /// <summary>Abridged tag word (one bit per register, 1 = valid), as in FXSAVE.</summary>
    public byte Ftwx;
    public ushort LastOpcode;
    public ulong LastIp;
    public ulong LastDp;
    public uint Mxcsr;
    public X87RegisterFile St;
    public XmmRegisterFile Xmm;

    public static FpuState PowerOn => new() { Fcw = 0x37F, Mxcsr = 0x1F80 };

    /// <summary>MXCSR bits the CPU implements (FXSAVE's MXCSR_MASK).</summary>
    public const uint MxcsrMask = 0xFFFF;

    /// <summary>
    /// Writes the 512-byte FXSAVE image (64-bit layout) of this state; only the
    /// first <paramref name="xmmRegisters"/> XMM registers (8 outside 64-bit mode).
    /// </summary>
    public readonly void WriteFxsaveImage(Span<byte> image, int xmmRegisters = 16)
    {
        BitConverter.TryWriteBytes(image[0..], Fcw);
        BitConverter.TryWriteBytes(image[2..], Fsw);
        image[4] = Ftwx;
        BitConverter.TryWriteBytes(image[6..], LastOpcode);
        BitConverter.TryWriteBytes(image[8..], LastIp);
        BitConverter.TryWriteBytes(image[16..], LastDp);
        BitConverter.TryWriteBytes(image[24..], Mxcsr);
        BitConverter.TryWriteBytes(image[28..], MxcsrMask);
        for (int i = 0; i < 16; i++) BitConverter.TryWriteBytes(image[(32 + i * 8)..], St[i]);
        for (int i = 0; i < xmmRegisters * 2; i++) BitConverter.TryWriteBytes(image[(160 + i * 8)..], Xmm[i]);
    }

    /// <summary>Loads state from a 512-byte FXSAVE image whose MXCSR (<paramref name="mxcsr"/>) the caller has validated.</summary>
    public void LoadFxsaveImage(ReadOnlySpan<byte> image, uint mxcsr, int xmmRegisters = 16)
    {
        Fcw = BitConverter.ToUInt16(image[0..]);
        Fsw = BitConverter.ToUInt16(image[2..]);
        Ftwx = image[4];
        LastOpcode = BitConverter.ToUInt16(image[6..]);
        LastIp = BitConverter.ToUInt64(image[8..]);
        LastDp = BitConverter.ToUInt64(image[16..]);
        Mxcsr = mxcsr;
        for (int i = 0; i < 16; i++) St[i] = BitConverter.ToUInt64(image[(32 + i * 8)..]);
        for (int i = 0; i < xmmRegisters * 2; i++) Xmm[i] = BitConverter.ToUInt64(image[(160 + i * 8)..]);
    }
}

/// <summary>Architectural bit positions used across the CPU.</summary>
public static class X86
{
    public const ulong FlagCarry = 1 << 0;
    public const ulong FlagReserved1 = 1 << 1;
    public const ulong FlagParity = 1 << 2;
    public const ulong FlagAdjust = 1 << 4;
    public const ulong FlagZero = 1 << 6;
    public const ulong FlagSign = 1 << 7;
    public const ulong FlagTrap = 1 << 8;
    public const ulong FlagInterrupt = 1 << 9;
    public const ulong FlagDirection = 1 << 10;
    public const ulong FlagOverflow = 1 << 11;
    public const ulong FlagIopl = 3 << 12;
    public const ulong FlagNestedTask = 1 << 14;
    public const ulong FlagResume = 1 << 16;
    public const ulong FlagVm86 = 1 << 17;
    public const ulong FlagAlignmentCheck = 1 << 18;
    public const ulong FlagVif = 1 << 19;
    public const ulong FlagVip = 1 << 20;
    public const ulong FlagId = 1 << 21;
    public const ulong ArithmeticFlags = FlagCarry | FlagParity | FlagAdjust | FlagZero | FlagSign | FlagOverflow;

    public const ulong Cr0Pe = 1 << 0;
    public const ulong Cr0Mp = 1 << 1;
    public const ulong Cr0Em = 1 << 2;
    public const ulong Cr0Ts = 1 << 3;
    public const ulong Cr0Et = 1 << 4;
    public const ulong Cr0Ne = 1 << 5;
    public const ulong Cr0Wp = 1 << 16;
    public const ulong Cr0Am = 1 << 18;
    public const ulong Cr0Nw = 1 << 29;
    public const ulong Cr0Cd = 1 << 30;
    public const ulong Cr0Pg = 1UL << 31;

    public const ulong Cr4Vme = 1 << 0;
    public const ulong Cr4Pvi = 1 << 1;
    public const ulong Cr4Tsd = 1 << 2;
    public const ulong Cr4De = 1 << 3;
    public const ulong Cr4Pse = 1 << 4;
    public const ulong Cr4Pae = 1 << 5;
    public const ulong Cr4Mce = 1 << 6;
    public const ulong Cr4Pge = 1 << 7;
    public const ulong Cr4Pce = 1 << 8;
    public const ulong Cr4Osfxsr = 1 << 9;
    public const ulong Cr4Osxmmexcpt = 1 << 10;
    public const ulong Cr4Umip = 1 << 11;
    public const ulong Cr4La57 = 1 << 12;
    public const ulong Cr4Fsgsbase = 1 << 16;
    public const ulong Cr4Pcide = 1 << 17;
    public const ulong Cr4Osxsave = 1 << 18;
    public const ulong Cr4Smep = 1 << 20;
    public const ulong Cr4Smap = 1 << 21;
    public const ulong Cr4Pke = 1 << 22;

    public const ulong EferSce = 1 << 0;
    public const ulong EferLme = 1 << 8;
    public const ulong EferLma = 1 << 10;
    public const ulong EferNxe = 1 << 11;
    public const ulong EferFfxsr = 1 << 14;

    public const uint MsrTsc = 0x10;
    public const uint MsrApicBase = 0x1B;
    public const uint MsrSysenterCs = 0x174;
    public const uint MsrSysenterEsp = 0x175;
    public const uint MsrSysenterEip = 0x176;
    public const uint MsrMiscEnable = 0x1A0;
    public const uint MsrPat = 0x277;
    public const uint MsrEfer = 0xC0000080;
    public const uint MsrStar = 0xC0000081;
    public const uint MsrLstar = 0xC0000082;
    public const uint MsrCstar = 0xC0000083;
    public const uint MsrSfmask = 0xC0000084;
    public const uint MsrFsBase = 0xC0000100;
    public const uint MsrGsBase = 0xC0000101;
    public const uint MsrKernelGsBase = 0xC0000102;
    public const uint MsrTscAux = 0xC0000103;

    public const byte VectorDivideError = 0;
    public const byte VectorDebug = 1;
    public const byte VectorNmi = 2;
    public const byte VectorBreakpoint = 3;
    public const byte VectorOverflow = 4;
    public const byte VectorBound = 5;
    public const byte VectorInvalidOpcode = 6;
    public const byte VectorDeviceNotAvailable = 7;
    public const byte VectorDoubleFault = 8;
    public const byte VectorInvalidTss = 10;
    public const byte VectorSegmentNotPresent = 11;
    public const byte VectorStackFault = 12;
    public const byte VectorGeneralProtection = 13;
    public const byte VectorPageFault = 14;
    public const byte VectorFloatingPoint = 16;
    public const byte VectorAlignmentCheck = 17;
    public const byte VectorMachineCheck = 18;
    public const byte VectorSimdFloatingPoint = 19;

    public const uint PageFaultPresent = 1 << 0;
    public const uint PageFaultWrite = 1 << 1;
    public const uint PageFaultUser = 1 << 2;
    public const uint PageFaultReservedBit = 1 << 3;
    public const uint PageFaultInstructionFetch = 1 << 4;

    public const byte ShadowMovSs = 1;
    public const byte ShadowSti = 2;

    public const ulong Dr6Fixed = 0xFFFF0FF0;
    public const ulong Dr6SingleStep = 1 << 14;
    public const ulong Dr7Fixed = 0x400;
}
