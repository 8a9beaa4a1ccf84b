namespace KvmSharp.Soft.Tests.Differential;

/// <summary>Which user mode a sequence runs in.</summary>
public enum GuestMode
{
    /// <summary>64-bit long mode, CPL 3.</summary>
    Long64 = 64,
    /// <summary>32-bit compatibility mode, CPL 3.</summary>
    Compat32 = 32,
    /// <summary>32-bit protected mode (no long mode), CPL 3, flat segments, 32-bit paging with 4 KiB pages.</summary>
    Protected32 = 1032,
    /// <summary>
    /// 16-bit code in protected mode (no long mode, no paging), CPL 3: a 16-bit code segment (D=0) based at the code
    /// address and 16-bit data and stack segments (B=0) based at the data address, so offsets, IP and SP are 16-bit.
    /// </summary>
    Protected16 = 1016,
    /// <summary>
    /// 16-bit code in compatibility mode (long mode with 4-level paging, CS.L=0 and CS.D=0), CPL 3, with the same 16-bit
    /// code, data and stack segments as <see cref="Protected16"/>: segment bases and limits apply in compatibility mode.
    /// </summary>
    Compat16 = 2016,
    /// <summary>
    /// Real mode (CR0.PE=0) with CS's hidden base at the code address and DS/ES/FS/GS/SS's at the data address (as
    /// KVM_SET_SREGS can load them); exceptions go through a real-mode interrupt vector table.
    /// </summary>
    Real16 = 16,
}

public static class GuestModes
{
    public static int Bitness(this GuestMode mode) => mode switch
    {
        GuestMode.Long64 => 64,
        GuestMode.Protected16 or GuestMode.Compat16 or GuestMode.Real16 => 16,
        _ => 32,
    };

    /// <summary>Whether the mode runs without paging (real mode or protected mode; through KVM's emulator on kvm_pvm), each run in a fresh VM.</summary>
    public static bool RunsWithoutPaging(this GuestMode mode) => mode is GuestMode.Protected32 or GuestMode.Protected16 or GuestMode.Real16;

    /// <summary>How vectors.txt and the fuzzer's --mode name the mode.</summary>
    public static string Tag(this GuestMode mode) => mode switch
    {
        GuestMode.Long64 => "64",
        GuestMode.Compat32 => "32",
        GuestMode.Protected32 => "pm32",
        GuestMode.Protected16 => "pm16",
        GuestMode.Compat16 => "cm16",
        GuestMode.Real16 => "rm16",
        _ => throw new ArgumentOutOfRangeException(nameof(mode)),
    };

    public static GuestMode Parse(string tag) => tag switch
    {
        "64" => GuestMode.Long64,
        "32" => GuestMode.Compat32,
        "pm32" => GuestMode.Protected32,
        "pm16" => GuestMode.Protected16,
        "cm16" => GuestMode.Compat16,
        "rm16" => GuestMode.Real16,
        _ => throw new FormatException($"Unknown guest mode '{tag}' (expected 64, 32, pm32, pm16, cm16 or rm16)."),
    };
}

/// <summary>
/// One differential run: the initial user state and the instructions. The data
/// region is rebuilt from <see cref="DataSeed"/>, so a case fits on one line.
/// </summary>
public sealed record TestCase(GuestMode Mode, ulong DataSeed, ulong[] Gprs, ulong Rflags, IReadOnlyList<byte[]> Instructions)
{
    public const int GprCount = 16;

    public static readonly string[] GprNames =
        ["rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15"];

    public int Bitness => Mode.Bitness();

    /// <summary>Rebuilds the initial XMM registers (<see cref="SseValues.Registers"/>); 0 leaves them zero.</summary>
    public ulong XmmSeed { get; init; }

    public uint Mxcsr { get; init; } = SseValues.DefaultMxcsr;

    public ulong[] InitialXmm() => SseValues.Registers(XmmSeed);

    /// <summary>The initial x87 state, rebuilt from the same seed as the XMM registers.</summary>
    public X87State InitialX87() => X87State.Initial(XmmSeed);

    public byte[] Code => Instructions.SelectMany(i => i).ToArray();

    public TestCase WithInstructions(IReadOnlyList<byte[]> instructions) => this with { Instructions = instructions };

    public TestCase WithGpr(int index, ulong value)
    {
        var gprs = (ulong[])Gprs.Clone();
        gprs[index] = value;
        return this with { Gprs = gprs };
    }

    /// <summary>The data region's initial bytes.</summary>
    public byte[] InitialData()
    {
        var data = new byte[DiffMachine.DataSize];
        var rng = new SplitMix64(DataSeed);
        for (int i = 0; i < data.Length; i += 8)
            BitConverter.TryWriteBytes(data.AsSpan(i), rng.Chance(20) ? rng.Interesting() : rng.Next());
        return data;
    }
}
