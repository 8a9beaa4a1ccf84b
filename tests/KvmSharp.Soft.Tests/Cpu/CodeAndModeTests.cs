using Iced.Intel;
using KvmSharp.Soft.Cpu;
using static Iced.Intel.AssemblerRegisters;

namespace KvmSharp.Soft.Tests.Cpu;

public class CodeAndModeTests
{
    private const ulong Code = CpuTestMachine.CodeBase;

    [Fact]
    public void SelfModifyingCode_NextInstructionInSameBlock()
    {
        using var m = new CpuTestMachine();
        m.SetupLongMode();
        m.LoadCode(Code, a =>
        {
            var target = a.CreateLabel();
            a.lea(rdi, __[target]);
            a.mov(__dword_ptr[rdi + 1], 0x99);
            a.Label(ref target);
            a.mov(eax, 0x11111111);
            a.hlt();
        });
        Assert.Equal(CpuExitReason.Hlt, m.Run());
        Assert.Equal(0x99UL, m.Cpu.Rax);
    }

    [Fact]
    public void SelfModifyingCode_AlreadyExecutedLoopBody()
    {
        using var m = new CpuTestMachine();
        m.SetupLongMode();
        // The loop body runs once (decoded and cached), then patches its own ADD immediate and runs again.
        m.LoadCode(Code, a =>
        {
            var body = a.CreateLabel();
            a.xor(eax, eax);
            a.mov(ecx, 2);
            a.Label(ref body);
            a.add(eax, 0x01010101); // 05 imm32: the immediate is at body + 1
            a.lea(rdi, __[body]);
            a.mov(__dword_ptr[rdi + 1], 0x10);
            a.dec(ecx);
            a.jnz(body);
            a.hlt();
        });
        Assert.Equal(CpuExitReason.Hlt, m.Run());
        Assert.Equal(0x01010111UL, m.Cpu.Rax);
    }

    [Fact]
    public void CodeRewrittenByHostBetweenRuns_IsSeen()
    {
        using var m = new CpuTestMachine();
        m.SetupLongMode();
        m.LoadCode(Code, a => { a.mov(eax, 1); a.hlt(); });
        Assert.Equal(CpuExitReason.Hlt, m.Run());
        m.LoadCode(Code, a => { a.mov(eax, 2); a.hlt(); });
        Assert.Equal(CpuExitReason.Hlt, m.Run());
        Assert.Equal(2UL, m.Cpu.Rax);
    }

    [Fact]
    public void InstructionStraddlingPages_Executes()
    {
        using var m = new CpuTestMachine();
        m.SetupLongMode();
        ulong start = 0x150FFC; // the 10-byte MOV crosses into the next page
        m.LoadCode(start, a => { a.mov(rax, 0x123456789ABCDEF0); a.hlt(); });
        Assert.Equal(CpuExitReason.Hlt, m.Run());
        Assert.Equal(0x123456789ABCDEF0UL, m.Cpu.Rax);
    }

    [Fact]
    public void LockXadd_IsAtomicAcrossTwoCpus()
    {
        using var memory = new TestMemory(16 << 20);
        const int iterations = 200_000;
        const ulong counter = 0x300000;
        X86Cpu MakeCpu()
        {
            var m = new CpuTestMachineOver(memory);
            m.SetupLongMode();
            return m.Cpu;
        }
        X86Cpu first = MakeCpu();
        X86Cpu second = MakeCpu();
        byte[] code = CpuTestMachine.Assemble(64, Code, a =>
        {
            var top = a.CreateLabel();
            a.mov(ecx, iterations);
            a.mov(ebx, (int)counter);
            a.Label(ref top);
            a.mov(eax, 1);
            a.@lock.xadd(__dword_ptr[rbx], eax);
            a.dec(ecx);
            a.jnz(top);
            a.hlt();
        });
        memory.Write(Code, code);
        first.Rip = second.Rip = Code;
        second.Rsp = 0x90000;
        CpuExitReason r1 = default, r2 = default;
        var t1 = new Thread(() => r1 = first.Run());
        var t2 = new Thread(() => r2 = second.Run());
        t1.Start();
        t2.Start();
        t1.Join();
        t2.Join();
        Assert.Equal(CpuExitReason.Hlt, r1);
        Assert.Equal(CpuExitReason.Hlt, r2);
        Assert.Equal(2u * iterations, memory.Read32(counter));
    }

    [Fact]
    public void RealMode_IntAndIretThroughIvt()
    {
        using var m = new CpuTestMachine();
        X86Cpu cpu = m.Cpu;
        cpu.Reset();
        // Handler for INT 0x10 at 0000:0600 adds to AX and IRETs.
        m.Memory.Write(0x600, CpuTestMachine.Assemble(16, 0x600, a => { a.add(ax, 0x100); a.iret(); }));
        m.Memory.Write16(0x10 * 4, 0x600);
        m.Memory.Write16(0x10 * 4 + 2, 0);
        // Program at 0x07C0:0000 (linear 0x7C00).
        m.Memory.Write(0x7C00, CpuTestMachine.Assemble(16, 0, a =>
        {
            a.mov(ax, 0x1234);
            a.mov(sp, 0x7000);
            a.@int(0x10);
            a.mov(bx, cs);
            a.hlt();
        }));
        cpu.Cs = SegmentCache.RealMode(0x07C0, type: 0xB);
        cpu.Ss = SegmentCache.RealMode(0);
        cpu.Rip = 0;
        cpu.NotifyStateChanged();
        Assert.Equal(CpuExitReason.Hlt, m.Run());
        Assert.Equal(0x1334UL, cpu.Rax & 0xFFFF);
        Assert.Equal(0x07C0UL, cpu.Rbx & 0xFFFF);
        Assert.Equal(0x7000UL, cpu.Rsp & 0xFFFF);
    }

    [Fact]
    public void BootFromRealModeToLongMode()
    {
        using var m = new CpuTestMachine();
        X86Cpu cpu = m.Cpu;
        cpu.Reset();
        // GDT at 0x1000: null, 32-bit code 0x08, data 0x10, 64-bit code 0x18.
        m.Memory.Write64(0x1008, CpuTestMachine.Descriptor(code: true, 0, longMode: false));
        m.Memory.Write64(0x1010, CpuTestMachine.Descriptor(code: false, 0, longMode: false));
        m.Memory.Write64(0x1018, CpuTestMachine.Descriptor(code: true, 0, longMode: true));
        m.Memory.Write16(0x1100, 0x1F);
        m.Memory.Write32(0x1102, 0x1000);
        // Identity page tables: PML4 0x10000 -> PDPT 0x11000 -> PD 0x12000 with 2 MiB pages.
        m.Memory.Write64(0x10000, 0x11003);
        m.Memory.Write64(0x11000, 0x12003);
        for (ulong i = 0; i < 512; i++) m.Memory.Write64(0x12000 + i * 8, (i << 21) | 0x83);

        const ulong realStart = 0x7C00, protStart = 0x8000, longStart = 0x9000;
        m.Memory.Write(realStart, CpuTestMachine.Assemble(16, realStart, a =>
        {
            a.cli();
            a.lgdt(__[0x1100]);
            a.mov(eax, cr0);
            a.or(eax, 1);
            a.mov(cr0, eax);
            a.jmp(0x08, (uint)protStart);
        }));
        m.Memory.Write(protStart, CpuTestMachine.Assemble(32, protStart, a =>
        {
            a.mov(ax, 0x10);
            a.mov(ds, ax);
            a.mov(ss, ax);
            a.mov(esp, 0x7000);
            a.mov(eax, cr4);
            a.or(eax, 1 << 5);
            a.mov(cr4, eax);
            a.mov(eax, 0x10000);
            a.mov(cr3, eax);
            a.mov(ecx, unchecked((int)X86.MsrEfer));
            a.rdmsr();
            a.or(eax, 1 << 8);
            a.wrmsr();
            a.mov(eax, cr0);
            a.or(eax, unchecked((int)0x80000000));
            a.mov(cr0, eax);
            a.jmp(0x18, (uint)longStart);
        }));
        m.Memory.Write(longStart, CpuTestMachine.Assemble(64, longStart, a =>
        {
            a.mov(rax, 0x1122334455667788);
            a.push(rax);
            a.pop(rbx);
            a.hlt();
        }));
        cpu.Cs = SegmentCache.RealMode(0, type: 0xB);
        cpu.Rip = realStart;
        cpu.NotifyStateChanged();
        Assert.Equal(CpuExitReason.Hlt, m.Run());
        Assert.Equal(0x1122334455667788UL, cpu.Rbx);
        Assert.Equal(64, cpu.Bitness);
        Assert.NotEqual(0UL, cpu.Efer & X86.EferLma);
        Assert.Equal(0x7000UL, cpu.Rsp);
    }

    [Fact]
    public void ProtectedMode32_InterruptGateAndIret()
    {
        using var m = new CpuTestMachine();
        X86Cpu cpu = m.Cpu;
        m.Memory.Write64(0x1008, CpuTestMachine.Descriptor(code: true, 0, longMode: false));
        m.Memory.Write64(0x1010, CpuTestMachine.Descriptor(code: false, 0, longMode: false));
        // IDT at 0x2000: vector 0x30 -> 32-bit interrupt gate to 0x5000.
        const ulong handler = 0x5000;
        ulong gate = (handler & 0xFFFF) | (0x08UL << 16) | (0xEUL << 40) | (1UL << 47) | ((handler >> 16) << 48);
        m.Memory.Write64(0x2000 + 0x30 * 8, gate);
        m.Memory.Write(handler, CpuTestMachine.Assemble(32, handler, a => { a.mov(ebx, __dword_ptr[esp]); a.add(eax, 1); a.iretd(); }));
        byte[] code = CpuTestMachine.Assemble(32, Code, a => { a.mov(eax, 41); a.@int(0x30); a.hlt(); });
        m.Memory.Write(Code, code);
        cpu.Cr0 = X86.Cr0Pe | X86.Cr0Et;
        cpu.Gdtr = new DescriptorTable { Base = 0x1000, Limit = 0x17 };
        cpu.Idtr = new DescriptorTable { Base = 0x2000, Limit = 0x7FF };
        cpu.Cs = CpuTestMachine.Flat(0x08, code: true, dpl: 0, longMode: false);
        SegmentCache data = CpuTestMachine.Flat(0x10, code: false, dpl: 0, longMode: false);
        cpu.Ds = cpu.Es = cpu.Ss = cpu.Fs = cpu.Gs = data;
        cpu.Rsp = 0x7000;
        cpu.Rip = Code;
        cpu.NotifyStateChanged();
        Assert.Equal(CpuExitReason.Hlt, m.Run());
        Assert.Equal(42UL, cpu.Rax);
        Assert.Equal(Code + 7, cpu.Rbx); // return EIP pushed by the gate
        Assert.Equal(0x7000UL, cpu.Rsp);
        Assert.Equal(32, cpu.Bitness);
    }
}

/// <summary>A machine over memory shared with other machines (for multi-CPU tests).</summary>
internal sealed class CpuTestMachineOver
{
    private readonly CpuTestMachine _layout;

    public CpuTestMachineOver(TestMemory memory)
    {
        Cpu = new X86Cpu(memory);
        _layout = CpuTestMachine.Wrap(memory, Cpu);
    }

    public X86Cpu Cpu { get; }

    public void SetupLongMode() => _layout.SetupLongMode();
}
