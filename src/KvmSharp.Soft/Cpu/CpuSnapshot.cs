namespace KvmSharp.Soft.Cpu;

/// <summary>
/// A copy of the architectural state, for differential tests against hardware (KVM_GET_REGS/SREGS/FPU/MSRS on the
/// Host kernel) and for debugging. <see cref="Differences"/> names every field that differs.
/// </summary>
public sealed class CpuSnapshot
{
    public ulong[] Gpr { get; init; } = new ulong[16];
    public ulong Rip { get; init; }
    public ulong Rflags { get; init; }
    public SegmentCache[] Segments { get; init; } = new SegmentCache[8];
    public DescriptorTable Gdtr { get; init; }
    public DescriptorTable Idtr { get; init; }
    public ulong Cr0 { get; init; }
    public ulong Cr2 { get; init; }
    public ulong Cr3 { get; init; }
    public ulong Cr4 { get; init; }
    public ulong Cr8 { get; init; }
    public ulong Efer { get; init; }
    public ulong Xcr0 { get; init; }
    public ulong[] DebugRegisters { get; init; } = new ulong[6];
    public ulong[] Xmm { get; init; } = new ulong[32];
    public uint Mxcsr { get; init; }
    public ushort Fcw { get; init; }
    public ushort Fsw { get; init; }
    public byte Ftwx { get; init; }
    public ulong[] X87 { get; init; } = new ulong[16];

    private static readonly string[] s_gprNames =
        ["rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15"];

    /// <summary>
    /// Lists fields whose values differ. <paramref name="flagsMask"/> selects the RFLAGS bits compared (pass a mask
    /// without the bits an instruction leaves undefined).
    /// </summary>
    public IReadOnlyList<string> Differences(CpuSnapshot other, ulong flagsMask = ulong.MaxValue)
    {
        var differences = new List<string>();
        for (int i = 0; i < 16; i++)
            if (Gpr[i] != other.Gpr[i]) differences.Add($"{s_gprNames[i]}: {Gpr[i]:x} != {other.Gpr[i]:x}");
        if (Rip != other.Rip) differences.Add($"rip: {Rip:x} != {other.Rip:x}");
        if ((Rflags & flagsMask) != (other.Rflags & flagsMask)) differences.Add($"rflags: {Rflags & flagsMask:x} != {other.Rflags & flagsMask:x}");
        for (int i = 0; i < 8; i++)
            if (!Segments[i].Equals(other.Segments[i])) differences.Add($"{(SegmentIndex)i}: {Segments[i]} != {other.Segments[i]}");
        if (!Gdtr.Equals(other.Gdtr)) differences.Add("gdtr");
        if (!Idtr.Equals(other.Idtr)) differences.Add("idtr");
        Compare("cr0", Cr0, other.Cr0);
        Compare("cr2", Cr2, other.Cr2);
        Compare("cr3", Cr3, other.Cr3);
        Compare("cr4", Cr4, other.Cr4);
        Compare("cr8", Cr8, other.Cr8);
        Compare("efer", Efer, other.Efer);
        Compare("xcr0", Xcr0, other.Xcr0);
        for (int i = 0; i < 6; i++) Compare($"dr[{i}]", DebugRegisters[i], other.DebugRegisters[i]);
        for (int i = 0; i < 32; i++) Compare($"xmm{i / 2}.{(i % 2 == 0 ? "lo" : "hi")}", Xmm[i], other.Xmm[i]);
        Compare("mxcsr", Mxcsr, other.Mxcsr);
        Compare("fcw", Fcw, other.Fcw);
        Compare("fsw", Fsw, other.Fsw);
        Compare("ftwx", Ftwx, other.Ftwx);
        for (int i = 0; i < 16; i++) Compare($"st{i / 2}.{(i % 2 == 0 ? "mantissa" : "exponent")}", X87[i], other.X87[i]);
        return differences;

        void Compare(string name, ulong a, ulong b)
        {
            if (a != b) differences.Add($"{name}: {a:x} != {b:x}");
        }
    }
}

public sealed partial class X86Cpu
{
    /// <summary>Copies the architectural state.</summary>
    public CpuSnapshot Capture()
    {
        var gpr = new ulong[16];
        for (int i = 0; i < 16; i++) gpr[i] = Gpr[i];
        var xmm = new ulong[32];
        for (int i = 0; i < 32; i++) xmm[i] = Fpu.Xmm[i];
        var x87 = new ulong[16];
        for (int i = 0; i < 16; i++) x87[i] = Fpu.St[i];
        return new CpuSnapshot
        {
            Gpr = gpr,
            Rip = Rip,
            Rflags = Rflags,
            Segments = (SegmentCache[])Segments.Clone(),
            Gdtr = Gdtr,
            Idtr = Idtr,
            Cr0 = Cr0,
            Cr2 = Cr2,
            Cr3 = Cr3,
            Cr4 = Cr4,
            Cr8 = Cr8,
            Efer = Efer,
            Xcr0 = Xcr0,
            DebugRegisters = [Dr0, Dr1, Dr2, Dr3, Dr6, Dr7],
            Xmm = xmm,
            Mxcsr = Fpu.Mxcsr,
            Fcw = Fpu.Fcw,
            Fsw = Fpu.Fsw,
            Ftwx = Fpu.Ftwx,
            X87 = x87,
        };
    }
}
