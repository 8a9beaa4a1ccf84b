using Iced.Intel;
using KvmSharp.Soft.Cpu;

namespace KvmSharp.Soft.Tests.Cpu;

/// <summary>
/// A CPU plus 16 MiB of RAM set up the way a 64-bit kernel would leave it: Linux-style GDT, a 64-bit TSS, an IDT whose
/// vectors point at per-vector HLT stubs, and identity-mapped 4-level page tables (4 KiB pages below 2 MiB, 2 MiB pages above).
/// </summary>
public sealed class CpuTestMachine : IDisposable
{
    public const ulong GdtBase = 0x1000;
    public const ulong IdtBase = 0x2000;
    public const ulong TssBase = 0x3000;
    public const ulong Pml4 = 0x10000;
    public const ulong Pdpt = 0x11000;
    public const ulong PageDirectory = 0x12000;
    public const ulong PageTable = 0x13000;
    /// <summary>Vector v's handler is a HLT at HandlerBase + v * 16.</summary>
    public const ulong HandlerBase = 0x4000;
    public const ulong CodeBase = 0x100000;
    public const ulong StackTop = 0x80000;
    public const ulong Rsp0 = 0x70000;
    public const ulong Ist1 = 0x60000;

    public const ushort KernelCs = 0x10, KernelDs = 0x18, UserCs32 = 0x23, UserDs = 0x2B, UserCs64 = 0x33, TssSelector = 0x40;

    public TestMemory Memory { get; }
    public X86Cpu Cpu { get; }

    private readonly bool _ownsMemory;

    public CpuTestMachine(ulong memorySize = 16 << 20)
    {
        Memory = new TestMemory(memorySize);
        Cpu = new X86Cpu(Memory);
        _ownsMemory = true;
    }

    private CpuTestMachine(TestMemory memory, X86Cpu cpu)
    {
        Memory = memory;
        Cpu = cpu;
    }

    /// <summary>Lays out a machine over existing memory and CPU (shared-memory tests); disposing it does not free the memory.</summary>
    public static CpuTestMachine Wrap(TestMemory memory, X86Cpu cpu) => new(memory, cpu);

    public void Dispose()
    {
        if (_ownsMemory) Memory.Dispose();
    }

    public static byte[] Assemble(int bitness, ulong rip, Action<Assembler> build)
    {
        var assembler = new Assembler(bitness);
        build(assembler);
        using var stream = new MemoryStream();
        assembler.Assemble(new StreamCodeWriter(stream), rip);
        return stream.ToArray();
    }

    public void SetXmm(int index, ulong low, ulong high)
    {
        Cpu.Fpu.Xmm[index * 2] = low;
        Cpu.Fpu.Xmm[index * 2 + 1] = high;
    }

    public (ulong Low, ulong High) GetXmm(int index) => (Cpu.Fpu.Xmm[index * 2], Cpu.Fpu.Xmm[index * 2 + 1]);

    /// <summary>Places code at <paramref name="address"/> and points RIP at it.</summary>
    public byte[] LoadCode(ulong address, Action<Assembler> build, int bitness = 64)
    {
        byte[] code = Assemble(bitness, address, build);
        Memory.Write(address, code);
        Cpu.Rip = address;
        return code;
    }

    public static SegmentCache Flat(ushort selector, bool code, int dpl, bool longMode)
    {
        SegmentCache s = X86Cpu.DescriptorToCache(Descriptor(code, dpl, longMode), selector);
        s.Type |= 1;
        return s;
    }

    public static ulong Descriptor(bool code, int dpl, bool longMode)
    {
        ulong raw = 0x0000FFFFUL | (0xFUL << 48) | (1UL << 55) | (1UL << 47) | (1UL << 44) | ((ulong)dpl << 45);
        raw |= code ? 0xAUL << 40 : 0x2UL << 40;
        if (code && longMode) raw |= 1UL << 53;
        else raw |= 1UL << 54;
        return raw;
    }

    /// <summary>Flat 32-bit protected mode; IDT gates (32-bit interrupt gates) to per-vector HLT stubs.</summary>
    public static CpuTestMachine Protected32(ulong cr0Extra = 0, ulong cr4 = 0, ulong cr3 = 0)
    {
        var m = new CpuTestMachine();
        X86Cpu cpu = m.Cpu;
        m.Memory.Write64(GdtBase + 0x08, Descriptor(code: true, 0, longMode: false));
        m.Memory.Write64(GdtBase + 0x10, Descriptor(code: false, 0, longMode: false));
        for (int v = 0; v < 32; v++)
        {
            ulong handler = HandlerBase + (ulong)v * 16;
            m.Memory.Write8(handler, 0xF4);
            m.Memory.Write64(IdtBase + (ulong)v * 8,
                (handler & 0xFFFF) | (0x08UL << 16) | (0xEUL << 40) | (1UL << 47) | ((handler >> 16) << 48));
        }
        cpu.Cr0 = X86.Cr0Pe | X86.Cr0Et | X86.Cr0Ne | cr0Extra;
        cpu.Cr4 = cr4;
        cpu.Cr3 = cr3;
        cpu.Gdtr = new DescriptorTable { Base = GdtBase, Limit = 0x17 };
        cpu.Idtr = new DescriptorTable { Base = IdtBase, Limit = 32 * 8 - 1 };
        cpu.Cs = Flat(0x08, code: true, dpl: 0, longMode: false);
        SegmentCache data = Flat(0x10, code: false, dpl: 0, longMode: false);
        cpu.Ds = cpu.Es = cpu.Ss = cpu.Fs = cpu.Gs = data;
        cpu.Tr = new SegmentCache { Base = TssBase, Limit = 0x67, Type = 0xB, Present = true };
        cpu.Rsp = StackTop;
        cpu.NotifyStateChanged();
        return m;
    }

    public void SetupLongMode(int cpl = 0)
    {
        // GDT
        Memory.Write64(GdtBase + 0x10, Descriptor(code: true, 0, longMode: true));
        Memory.Write64(GdtBase + 0x18, Descriptor(code: false, 0, false));
        Memory.Write64(GdtBase + 0x20, Descriptor(code: true, 3, longMode: false));
        Memory.Write64(GdtBase + 0x28, Descriptor(code: false, 3, false));
        Memory.Write64(GdtBase + 0x30, Descriptor(code: true, 3, longMode: true));
        // 64-bit available TSS descriptor, limit 0x67.
        ulong tss = 0x67 | ((TssBase & 0xFFFFFF) << 16) | (0x9UL << 40) | (1UL << 47) | ((TssBase >> 24) << 56);
        Memory.Write64(GdtBase + 0x40, tss);
        Memory.Write64(GdtBase + 0x48, TssBase >> 32);
        Memory.Write64(TssBase + 4, Rsp0);
        Memory.Write64(TssBase + 0x24, Ist1);
        Memory.Write16(TssBase + 0x66, 0x68); // I/O bitmap offset beyond the limit: no bitmap

        // IDT: every vector an interrupt gate to its own HLT stub.
        for (int v = 0; v < 256; v++)
        {
            ulong handler = HandlerBase + (ulong)v * 16;
            Memory.Write8(handler, 0xF4); // hlt
            SetIdtGate(v, handler, dpl: 0, ist: 0, trap: false);
        }

        // Page tables: PML4[0] -> PDPT, PDPT[0] -> PD, PD[0] -> PT (4 KiB pages), PD[1..] 2 MiB pages.
        const ulong rwUser = 0x7;
        Memory.Write64(Pml4, Pdpt | rwUser);
        Memory.Write64(Pdpt, PageDirectory | rwUser);
        Memory.Write64(PageDirectory, PageTable | rwUser);
        for (ulong i = 0; i < 512; i++) Memory.Write64(PageTable + i * 8, (i << 12) | rwUser);
        for (ulong i = 1; i < 512; i++) Memory.Write64(PageDirectory + i * 8, (i << 21) | 0x80 | rwUser);

        X86Cpu cpu = Cpu;
        cpu.Cr0 = X86.Cr0Pe | X86.Cr0Mp | X86.Cr0Et | X86.Cr0Ne | X86.Cr0Wp | X86.Cr0Pg;
        cpu.Cr3 = Pml4;
        cpu.Cr4 = X86.Cr4Pae | X86.Cr4Pge | X86.Cr4Osfxsr | X86.Cr4Osxmmexcpt;
        cpu.Efer = X86.EferSce | X86.EferLme | X86.EferLma | X86.EferNxe;
        cpu.Gdtr = new DescriptorTable { Base = GdtBase, Limit = 0x4F };
        cpu.Idtr = new DescriptorTable { Base = IdtBase, Limit = 0xFFF };
        bool user = cpl == 3;
        cpu.Cs = Flat(user ? UserCs64 : KernelCs, code: true, dpl: cpl, longMode: true);
        SegmentCache data = Flat(user ? UserDs : KernelDs, code: false, dpl: cpl, longMode: false);
        cpu.Ss = data;
        cpu.Ds = data;
        cpu.Es = data;
        cpu.Fs = data;
        cpu.Gs = data;
        cpu.Tr = new SegmentCache { Selector = TssSelector, Base = TssBase, Limit = 0x67, Type = 0xB, Present = true };
        cpu.Ldtr = new SegmentCache { Unusable = true };
        cpu.Star = (0x20UL << 48) | (0x10UL << 32);
        cpu.Rflags = X86.FlagReserved1;
        cpu.Rsp = StackTop;
        cpu.NotifyStateChanged();
    }

    public void SetIdtGate(int vector, ulong handler, int dpl, int ist, bool trap)
    {
        ulong low = (handler & 0xFFFF) | ((ulong)KernelCs << 16) | ((ulong)ist << 32) | ((trap ? 0xFUL : 0xEUL) << 40) |
            ((ulong)dpl << 45) | (1UL << 47) | ((handler >> 16 & 0xFFFF) << 48);
        Memory.Write64(IdtBase + (ulong)vector * 16, low);
        Memory.Write64(IdtBase + (ulong)vector * 16 + 8, handler >> 32);
    }

    /// <summary>Address just past the HLT of vector <paramref name="vector"/>'s stub: where RIP is after the handler's HLT exit.</summary>
    public static ulong AfterHandler(int vector) => HandlerBase + (ulong)vector * 16 + 1;

    /// <summary>Clears the PTE flags <paramref name="clear"/> and sets <paramref name="set"/> for the 4 KiB page at <paramref name="address"/> (below 2 MiB).</summary>
    public void ChangePte(ulong address, ulong clear, ulong set)
    {
        ulong pte = PageTable + (address >> 12) * 8;
        Memory.Write64(pte, (Memory.Read64(pte) & ~clear) | set);
        Cpu.FlushTlb();
    }

    public CpuExitReason Run(long budget = 1_000_000) => Cpu.Run(budget);
}
