using KvmSharp.Soft.Cpu;
using static Iced.Intel.AssemblerRegisters;

namespace KvmSharp.Soft.Tests.Cpu;

/// <summary>
/// BOUND and ARPL, the two legacy-mode-only instructions of the 80186/80286 sets. KVM's instruction emulator, through
/// which this project's Host runs all non-64-bit code, implements neither, so the expectations follow the SDM's
/// pseudocode, restated here independently of Soft.
/// </summary>
public class BoundAndArplTests
{
    private const ulong Code = CpuTestMachine.CodeBase;
    private const ulong Bounds = 0x200000;

    [Theory]
    [InlineData(5, 0, 10)]
    [InlineData(0, 0, 10)]
    [InlineData(10, 0, 10)]
    [InlineData(-1, 0, 10)]
    [InlineData(11, 0, 10)]
    [InlineData(-5, -5, 5)]
    [InlineData(-6, -5, 5)]
    [InlineData(int.MinValue, int.MinValue, int.MaxValue)]
    [InlineData(0x7FFFFFFF, -1, 0)]
    public void Bound32_faults_with_BR_exactly_outside_the_signed_range(int index, int lower, int upper)
    {
        using var m = CpuTestMachine.Protected32();
        m.Memory.Write32(Bounds, (uint)lower);
        m.Memory.Write32(Bounds + 4, (uint)upper);
        m.Cpu.Rax = (uint)index;
        m.Cpu.Rbx = Bounds;
        byte[] code = m.LoadCode(Code, a => { a.bound(eax, __qword_ptr[ebx]); a.hlt(); }, bitness: 32);
        Assert.Equal(CpuExitReason.Hlt, m.Run());
        AssertOutcome(m, code, index < lower || index > upper);
    }

    [Theory]
    [InlineData(0x7FFF, 0, 0x7FFF, false)]
    [InlineData(0x8000, 0, 0x7FFF, true)]        // 0x8000 is -32768 as a word
    [InlineData(0xFFFF, 0xFFFE, 0x0001, false)]  // -1 within -2..1
    public void Bound16_compares_words_as_signed(ushort index, ushort lower, ushort upper, bool faults)
    {
        using var m = CpuTestMachine.Protected32();
        m.Memory.Write16(Bounds, lower);
        m.Memory.Write16(Bounds + 2, upper);
        m.Cpu.Rax = 0xABCD0000UL | index;  // The upper half of EAX takes no part.
        m.Cpu.Rbx = Bounds;
        byte[] code = m.LoadCode(Code, a => { a.bound(ax, __dword_ptr[ebx]); a.hlt(); }, bitness: 32);
        Assert.Equal(CpuExitReason.Hlt, m.Run());
        AssertOutcome(m, code, faults);
    }

    [Fact]
    public void Bound_reads_its_upper_bound_through_the_segment_limit()
    {
        using var m = CpuTestMachine.Protected32();
        // A data segment whose limit ends inside the pair of bounds: reading the upper bound is #GP(0).
        SegmentCache small = m.Cpu.Ds;
        small.Limit = (uint)Bounds + 5;
        m.Cpu.Ds = small;
        m.Cpu.NotifyStateChanged();
        m.Cpu.Rbx = Bounds;
        m.LoadCode(Code, a => { a.bound(eax, __qword_ptr[ebx]); a.hlt(); }, bitness: 32);
        Assert.Equal(CpuExitReason.Hlt, m.Run());
        Assert.Equal(CpuTestMachine.AfterHandler(X86.VectorGeneralProtection), m.Cpu.Rip);
    }

    [Fact]
    public void Bound_does_not_exist_in_64_bit_mode()
    {
        using var m = new CpuTestMachine();
        m.SetupLongMode();
        // 62 is the EVEX prefix in 64-bit mode; with no AVX-512 it is an invalid opcode.
        m.Memory.Write(Code, [0x62, 0x03, 0xF4]);
        m.Cpu.Rip = Code;
        Assert.Equal(CpuExitReason.Hlt, m.Run());
        Assert.Equal(CpuTestMachine.AfterHandler(X86.VectorInvalidOpcode), m.Cpu.Rip);
    }

    [Theory]
    [InlineData(0x0010, 0x0003, 0x0013, true)]
    [InlineData(0x0012, 0x0001, 0x0012, false)]
    [InlineData(0x0013, 0x0003, 0x0013, false)]
    [InlineData(0xFFF1, 0x1232, 0xFFF2, true)]
    public void Arpl_raises_the_destination_rpl_and_reports_it_in_ZF(ushort destination, ushort source, ushort expected, bool raised)
    {
        using var m = CpuTestMachine.Protected32();
        m.Cpu.Rax = 0x55550000UL | destination;
        m.Cpu.Rcx = source;
        m.Memory.Write16(Bounds, destination);
        m.Cpu.Rbx = Bounds;
        m.Cpu.Rflags = raised ? 0x2UL : 0x2UL | X86.FlagZero;
        byte[] code = m.LoadCode(Code, a => { a.arpl(ax, cx); a.arpl(__word_ptr[ebx], cx); a.hlt(); }, bitness: 32);
        Assert.Equal(CpuExitReason.Hlt, m.Run());
        Assert.Equal(Code + (ulong)code.Length, m.Cpu.Rip);
        Assert.Equal(0x55550000UL | expected, m.Cpu.Rax);
        Assert.Equal(expected, m.Memory.Read16(Bounds));
        Assert.Equal(raised, (m.Cpu.Rflags & X86.FlagZero) != 0);
    }

    [Fact]
    public void Arpl_is_invalid_in_real_mode()
    {
        using var m = CpuTestMachine.Protected32();
        m.Cpu.Cr0 &= ~X86.Cr0Pe;
        m.Cpu.Cs = RealModeSegment(0);
        m.Cpu.Idtr = new DescriptorTable { Base = 0, Limit = 0x3FF };
        m.Cpu.NotifyStateChanged();
        // Real-mode IVT entry 6 points at a HLT.
        m.Memory.Write32(6 * 4, 0x0500);
        m.Memory.Write8(0x500, 0xF4);
        m.LoadCode(0x7000, a => { a.arpl(ax, cx); a.hlt(); }, bitness: 16);
        Assert.Equal(CpuExitReason.Hlt, m.Run());
        Assert.Equal(0x501UL, m.Cpu.Rip);
    }

    private static SegmentCache RealModeSegment(ushort selector) =>
        new() { Selector = selector, Base = (ulong)selector << 4, Limit = 0xFFFF, Type = 0xB, S = true, Present = true };

    private static void AssertOutcome(CpuTestMachine m, byte[] code, bool faults)
    {
        if (faults)
        {
            // #BR is a fault: the return address on the handler's stack is the BOUND itself.
            Assert.Equal(CpuTestMachine.AfterHandler(X86.VectorBound), m.Cpu.Rip);
            Assert.Equal((uint)Code, m.Memory.Read32(m.Cpu.Rsp));
        }
        else
        {
            Assert.Equal(Code + (ulong)code.Length, m.Cpu.Rip); // past the HLT
        }
    }
}
