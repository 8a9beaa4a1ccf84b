namespace KvmSharp.Soft.Tests.Differential;

/// <summary>Which user mode a sequence runs in.</summary>
public enum GuestMode
{
    /// <summary>64-bit long mode, CPL 3.</summary>
    Long64 = 64,
    /// <summary>32-bit compatibility mode, CPL 3.</summary>
    Compat32 = 32,
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

    public int Bitness => (int)Mode;

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
