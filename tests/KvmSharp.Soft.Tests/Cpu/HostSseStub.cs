using System.Runtime.InteropServices;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace KvmSharp.Soft.Tests.Cpu;

/// <summary>
/// Runs one SSE instruction on the host processor under a chosen MXCSR and reports the result bits and the MXCSR it
/// leaves, so that flags, DAZ, FTZ and tininess can be compared with the real hardware, which .NET cannot otherwise
/// show. The stub saves and restores the host's MXCSR around the instruction; callers must keep every exception masked
/// (an unmasked one would be a SIGFPE in the test process).
/// </summary>
public sealed unsafe class HostSseStub : IDisposable
{
    /// <summary>The block the stub reads and writes; offsets are fixed in <see cref="Build"/>.</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct Frame
    {
        public uint MxcsrIn;      // 0
        public uint MxcsrOut;     // 4
        public ulong ALow;        // 8
        public ulong AHigh;       // 16
        public ulong BLow;        // 24
        public ulong BHigh;       // 32
        public ulong XmmLow;      // 40
        public ulong XmmHigh;     // 48
        public ulong RaxResult;   // 56
        public uint HostMxcsr;    // 64
        public uint Padding;      // 68
        public ulong Rflags;      // 72
    }

    private const int ProtRead = 1, ProtWrite = 2, ProtExec = 4, MapPrivate = 2, MapAnonymous = 0x20;

    [DllImport("libc", SetLastError = true)]
    private static extern nint mmap(nint address, nuint length, int protection, int flags, int fd, nint offset);

    [DllImport("libc", SetLastError = true)]
    private static extern int mprotect(nint address, nuint length, int protection);

    [DllImport("libc", SetLastError = true)]
    private static extern int munmap(nint address, nuint length);

    private readonly nint _code;
    private readonly nuint _length;

    /// <param name="body">
    /// The instruction(s) under test: xmm0 holds A and xmm1 holds B, rax holds B's low 64 bits, the arithmetic flags
    /// are clear; the stub returns xmm0, rax and RFLAGS.
    /// </param>
    public HostSseStub(Action<Assembler> body)
    {
        byte[] bytes = Build(body);
        _length = (nuint)((bytes.Length + 4095) & ~4095);
        _code = mmap(0, _length, ProtRead | ProtWrite, MapPrivate | MapAnonymous, -1, 0);
        if (_code == -1) throw new InvalidOperationException($"mmap for the host SSE stub failed (errno {Marshal.GetLastWin32Error()})");
        Marshal.Copy(bytes, 0, _code, bytes.Length);
        if (mprotect(_code, _length, ProtRead | ProtExec) != 0)
            throw new InvalidOperationException($"mprotect for the host SSE stub failed (errno {Marshal.GetLastWin32Error()})");
    }

    private static byte[] Build(Action<Assembler> body)
    {
        var a = new Assembler(64);
        a.stmxcsr(__dword_ptr[rdi + 64]);
        a.ldmxcsr(__dword_ptr[rdi]);
        a.movdqu(xmm0, __xmmword_ptr[rdi + 8]);
        a.movdqu(xmm1, __xmmword_ptr[rdi + 24]);
        a.mov(rax, __qword_ptr[rdi + 24]);
        // Known arithmetic flags (all clear) for instructions that leave them alone.
        a.push(2);
        a.popfq();
        body(a);
        a.movdqu(__xmmword_ptr[rdi + 40], xmm0);
        a.mov(__qword_ptr[rdi + 56], rax);
        a.pushfq();
        a.pop(rcx);
        a.mov(__qword_ptr[rdi + 72], rcx);
        a.stmxcsr(__dword_ptr[rdi + 4]);
        a.ldmxcsr(__dword_ptr[rdi + 64]);
        a.ret();
        using var stream = new MemoryStream();
        a.Assemble(new StreamCodeWriter(stream), 0);
        return stream.ToArray();
    }

    /// <summary>Scalar operands: A and B in the low 64 bits of xmm0 and xmm1, the rest zero; returns xmm0's low half.</summary>
    public (ulong Xmm, ulong Rax, ulong Rflags, uint Mxcsr) Run(ulong a, ulong b, uint mxcsr)
    {
        var result = Run128((a, 0), (b, 0), mxcsr);
        return (result.Xmm.Low, result.Rax, result.Rflags, result.Mxcsr);
    }

    public ((ulong Low, ulong High) Xmm, ulong Rax, ulong Rflags, uint Mxcsr) Run128((ulong Low, ulong High) a, (ulong Low, ulong High) b, uint mxcsr)
    {
        if ((mxcsr & 0x1F80) != 0x1F80) throw new ArgumentException("every exception must stay masked on the host", nameof(mxcsr));
        Frame frame = new() { MxcsrIn = mxcsr, ALow = a.Low, AHigh = a.High, BLow = b.Low, BHigh = b.High };
        ((delegate* unmanaged<Frame*, void>)_code)(&frame);
        return ((frame.XmmLow, frame.XmmHigh), frame.RaxResult, frame.Rflags, frame.MxcsrOut);
    }

    public void Dispose() => munmap(_code, _length);
}
