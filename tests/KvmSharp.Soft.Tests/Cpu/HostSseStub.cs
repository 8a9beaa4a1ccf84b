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
        public ulong A;           // 8
        public ulong B;           // 16
        public ulong XmmResult;   // 24
        public ulong RaxResult;   // 32
        public uint HostMxcsr;    // 40
        public uint Padding;      // 44
        public ulong Rflags;      // 48
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
    /// The instruction(s) under test: xmm0 holds A and xmm1 holds B (low 64 bits, rest zero), rax holds B; the stub
    /// returns xmm0's low 64 bits, rax and RFLAGS.
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
        a.stmxcsr(__dword_ptr[rdi + 40]);
        a.ldmxcsr(__dword_ptr[rdi]);
        a.movq(xmm0, __qword_ptr[rdi + 8]);
        a.movq(xmm1, __qword_ptr[rdi + 16]);
        a.mov(rax, __qword_ptr[rdi + 16]);
        body(a);
        a.movq(__qword_ptr[rdi + 24], xmm0);
        a.mov(__qword_ptr[rdi + 32], rax);
        a.pushfq();
        a.pop(rcx);
        a.mov(__qword_ptr[rdi + 48], rcx);
        a.stmxcsr(__dword_ptr[rdi + 4]);
        a.ldmxcsr(__dword_ptr[rdi + 40]);
        a.ret();
        using var stream = new MemoryStream();
        a.Assemble(new StreamCodeWriter(stream), 0);
        return stream.ToArray();
    }

    public (ulong Xmm, ulong Rax, ulong Rflags, uint Mxcsr) Run(ulong a, ulong b, uint mxcsr)
    {
        if ((mxcsr & 0x1F80) != 0x1F80) throw new ArgumentException("every exception must stay masked on the host", nameof(mxcsr));
        Frame frame = new() { MxcsrIn = mxcsr, A = a, B = b };
        ((delegate* unmanaged<Frame*, void>)_code)(&frame);
        return (frame.XmmResult, frame.RaxResult, frame.Rflags, frame.MxcsrOut);
    }

    public void Dispose() => munmap(_code, _length);
}
