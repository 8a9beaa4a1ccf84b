using Iced.Intel;
using KvmSharp.Soft.Cpu;
using static Iced.Intel.AssemblerRegisters;

namespace KvmSharp.Soft.Tests.Cpu;

/// <summary>
/// #AC: only at CPL 3 with CR0.AM and RFLAGS.AC both set, for a data access off its alignment; 16-byte forms that
/// require alignment raise #GP instead. (The differential vectors compare the faulting cases with the processor;
/// these pin the conditions under which nothing may fault.)
/// </summary>
public class AlignmentCheckTests
{
    private const ulong Code = CpuTestMachine.CodeBase;
    private const ulong Data = 0x20_0000;

    private static CpuTestMachine Machine(int cpl, bool am, bool ac, Action<Assembler> build)
    {
        var m = new CpuTestMachine();
        m.SetupLongMode(cpl);
        m.Cpu.Cr0 = am ? m.Cpu.Cr0 | X86.Cr0Am : m.Cpu.Cr0 & ~X86.Cr0Am;
        m.Cpu.Rflags = ac ? m.Cpu.Rflags | X86.FlagAlignmentCheck : m.Cpu.Rflags & ~X86.FlagAlignmentCheck;
        m.Cpu.Cr4 |= X86.Cr4Osfxsr;
        m.Cpu.NotifyStateChanged();
        m.Cpu.Gpr[3] = Data;
        m.LoadCode(Code, build);
        return m;
    }

    /// <summary>
    /// Runs the body followed by HLT; returns the vector of the exception it raised, or -1 when it completed (the HLT
    /// halted at CPL 0, or raised its own #GP at CPL 3).
    /// </summary>
    private static int RunCode(int cpl, bool am, bool ac, Action<Assembler> body)
    {
        ulong closingHlt = Code + (ulong)CpuTestMachine.Assemble(64, Code, body).Length;
        using var m = Machine(cpl, am, ac, a => { body(a); a.hlt(); });
        CpuExitReason reason = m.Run();
        Assert.True(reason == CpuExitReason.Hlt, $"{reason} {m.Cpu.Exit.InternalError}");
        if (m.Cpu.Rip == closingHlt + 1) return -1;
        int vector = (int)((m.Cpu.Rip - 1 - CpuTestMachine.HandlerBase) / 16);
        ulong errorCode = m.Memory.Read64(m.Cpu.Rsp), faultRip = m.Memory.Read64(m.Cpu.Rsp + 8);
        if (vector == X86.VectorGeneralProtection && faultRip == closingHlt) return -1;
        Assert.Equal(Code, faultRip);
        Assert.Equal(0UL, errorCode);
        return vector;
    }

    [Theory]
    [InlineData(3, true, true, X86.VectorAlignmentCheck)]
    [InlineData(3, false, true, -1)]
    [InlineData(3, true, false, -1)]
    [InlineData(0, true, true, -1)]
    public void MisalignedDword_FaultsOnlyAtCpl3WithAmAndAc(int cpl, bool am, bool ac, int expected) =>
        Assert.Equal(expected, RunCode(cpl, am, ac, a => a.mov(eax, __dword_ptr[rbx + 2])));

    [Fact]
    public void AlignedDwordOffAnEightByteBoundary_DoesNotFault() =>
        Assert.Equal(-1, RunCode(3, true, true, a => a.mov(eax, __dword_ptr[rbx + 4])));

    [Fact]
    public void MisalignedMovups_IsAlignmentChecked() =>
        Assert.Equal(X86.VectorAlignmentCheck, RunCode(3, true, true, a => a.movups(xmm0, __xmmword_ptr[rbx + 8])));

    [Fact]
    public void MisalignedMovaps_IsGpEvenWithAlignmentChecking() =>
        Assert.Equal(X86.VectorGeneralProtection, RunCode(3, true, true, a => a.movaps(xmm0, __xmmword_ptr[rbx + 8])));

    /// <summary>
    /// The check must hold on every path, including pre-decoded fast paths that hit the TLB: a misaligned load, store
    /// and push run first with AC clear (warming the block and the TLB), then again after POPFQ sets AC.
    /// </summary>
    [Theory]
    [InlineData("load")]
    [InlineData("store")]
    [InlineData("push")]
    public void MisalignedAccessInAWarmLoop_FaultsOnceAcIsSet(string access)
    {
        void Access(Assembler a)
        {
            switch (access)
            {
                case "load": a.mov(rax, __qword_ptr[rbx + 1]); break;
                case "store": a.mov(__qword_ptr[rbx + 1], rax); break;
                default: a.push(rax); a.pop(rax); break;
            }
        }
        using var m = Machine(cpl: 3, am: true, ac: false, a =>
        {
            if (access == "push") a.sub(rsp, 1);
            for (int pass = 0; pass < 2; pass++)
            {
                Label loop = a.CreateLabel();
                a.mov(ecx, 100);
                a.Label(ref loop);
                Access(a);
                a.dec(ecx);
                a.jne(loop);
                if (pass == 0)
                {
                    a.pushfq();
                    a.or(__qword_ptr[rsp], (int)X86.FlagAlignmentCheck);
                    a.popfq();
                }
            }
            a.hlt();
        });
        Assert.Equal(CpuExitReason.Hlt, m.Run());
        Assert.Equal(CpuTestMachine.AfterHandler(X86.VectorAlignmentCheck), m.Cpu.Rip);
        Assert.Equal(100UL, m.Cpu.Gpr[1] & 0xFFFFFFFF); // the first iteration of the second pass
    }
}
