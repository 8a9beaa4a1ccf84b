using KvmSharp.Abi;
using KvmSharp.Soft.Cpu;

namespace KvmSharp.Soft.Vcpu;

// x87/SSE state: KVM_GET/SET_FPU, KVM_GET/SET_XSAVE and KVM_GET/SET_XCRS.
internal sealed unsafe partial class SoftVcpu
{
    /// <summary>XCR0 bits Soft supports: x87 and SSE state.</summary>
    private const ulong SupportedXcr0 = 0x3;

    private KvmFpu GetFpu()
    {
        ref FpuState f = ref Cpu.Fpu;
        var fpu = new KvmFpu
        {
            Fcw = f.Fcw, Fsw = f.Fsw, Ftwx = f.Ftwx, LastOpcode = f.LastOpcode, LastIp = f.LastIp, LastDp = f.LastDp,
            // KVM does not transfer MXCSR through this ioctl; it reads as 0 (see the conformance test).
            Mxcsr = 0,
        };
        fixed (ulong* st = &f.St[0])
            new ReadOnlySpan<byte>(st, 128).CopyTo(new Span<byte>(fpu.Fpr, 128));
        fixed (ulong* xmm = &f.Xmm[0])
            new ReadOnlySpan<byte>(xmm, 256).CopyTo(new Span<byte>(fpu.Xmm, 256));
        return fpu;
    }

    private int SetFpu(in KvmFpu fpu)
    {
        ref FpuState f = ref Cpu.Fpu;
        f.Fcw = fpu.Fcw;
        f.Fsw = fpu.Fsw;
        f.Ftwx = fpu.Ftwx;
        f.LastOpcode = fpu.LastOpcode;
        f.LastIp = fpu.LastIp;
        f.LastDp = fpu.LastDp;
        fixed (byte* source = fpu.Fpr)
        fixed (ulong* st = &f.St[0])
            new ReadOnlySpan<byte>(source, 128).CopyTo(new Span<byte>(st, 128));
        fixed (byte* source = fpu.Xmm)
        fixed (ulong* xmm = &f.Xmm[0])
            new ReadOnlySpan<byte>(source, 256).CopyTo(new Span<byte>(xmm, 256));
        return 0;
    }

    /// <summary>The legacy FXSAVE image followed by an XSAVE header saying x87 and SSE state are present.</summary>
    private KvmXsave GetXsave()
    {
        var xsave = new KvmXsave();
        var area = new Span<byte>(xsave.Region, 4096);
        Cpu.Fpu.WriteFxsaveImage(area);
        BitConverter.TryWriteBytes(area[512..], SupportedXcr0);
        return xsave;
    }

    private int SetXsave(in KvmXsave xsave)
    {
        fixed (uint* region = xsave.Region)
        {
            var area = new ReadOnlySpan<byte>(region, 4096);
            ulong xstateBv = BitConverter.ToUInt64(area[512..]);
            if ((xstateBv & ~SupportedXcr0) != 0)
                return -(int)Errno.EINVAL;
            uint mxcsr = BitConverter.ToUInt32(area[24..]);
            if ((mxcsr & ~FpuState.MxcsrMask) != 0)
                return -(int)Errno.EINVAL;
            Cpu.Fpu.LoadFxsaveImage(area, mxcsr);
        }
        return 0;
    }

    private KvmXcrs GetXcrs()
    {
        var xcrs = new KvmXcrs { NrXcrs = 1 };
        xcrs.Xcrs[0] = new KvmXcr { Xcr = 0, Value = Cpu.Xcr0 };
        return xcrs;
    }

    private int SetXcrs(in KvmXcrs xcrs)
    {
        if (xcrs.NrXcrs > KvmConstants.KVM_MAX_XCRS || xcrs.Flags != 0)
            return -(int)Errno.EINVAL;
        for (int i = 0; i < xcrs.NrXcrs; i++)
        {
            KvmXcr xcr = xcrs.Xcrs[i];
            if (xcr.Xcr != 0)
                continue;
            // XCR0: x87 state always on, nothing the CPU lacks.
            if ((xcr.Value & 1) == 0 || (xcr.Value & ~SupportedXcr0) != 0)
                return -(int)Errno.EINVAL;
            Cpu.Xcr0 = xcr.Value;
            break;
        }
        return 0;
    }
}
