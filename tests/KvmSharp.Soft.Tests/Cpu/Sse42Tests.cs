using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Iced.Intel;
using KvmSharp.Soft.Cpu;
using static Iced.Intel.AssemblerRegisters;

namespace KvmSharp.Soft.Tests.Cpu;

/// <summary>
/// SSE4.2 on Soft's CPU. CRC32 and PCMPGTQ are checked against .NET's Sse42 intrinsics on this processor; the string
/// compares, which .NET does not expose, against the same instructions run natively through <see cref="HostSseStub"/>
/// for every control byte, plus hand-worked cases from the SDM's definitions.
/// </summary>
public sealed class Sse42Tests : IDisposable
{
    private const ulong Code = CpuTestMachine.CodeBase;
    private const ulong Data = 0x200000;
    private const ulong ArithmeticFlags = X86.FlagCarry | X86.FlagParity | X86.FlagAdjust | X86.FlagZero | X86.FlagSign | X86.FlagOverflow;

    private readonly CpuTestMachine _machine = new();
    /// <summary>Code already placed in guest memory, by a key naming it, so each shape is assembled once.</summary>
    private readonly Dictionary<string, ulong> _placed = [];
    private ulong _nextCode = Code;

    public Sse42Tests() => _machine.SetupLongMode();

    public void Dispose() => _machine.Dispose();

    private X86Cpu Cpu => _machine.Cpu;

    /// <summary>Runs <paramref name="build"/> (followed by HLT), cached under <paramref name="key"/>, from the CPU's current state.</summary>
    private void Run(string key, Action<Assembler> build)
    {
        if (!_placed.TryGetValue(key, out ulong address))
        {
            address = _nextCode;
            byte[] code = CpuTestMachine.Assemble(64, address, a => { build(a); a.hlt(); });
            _machine.Memory.Write(address, code);
            _nextCode += (ulong)(code.Length + 15) & ~15UL;
            _placed[key] = address;
        }
        Cpu.Rip = address;
        CpuExitReason reason = _machine.Run();
        Assert.True(reason == CpuExitReason.Hlt, $"{key}: {reason} {Cpu.Exit.InternalError} at 0x{Cpu.Rip:x}");
    }

    private void SetXmm(int index, Vector128<ulong> value)
    {
        Cpu.Fpu.Xmm[index * 2] = value.GetElement(0);
        Cpu.Fpu.Xmm[index * 2 + 1] = value.GetElement(1);
    }

    private Vector128<ulong> GetXmm(int index) => Vector128.Create(Cpu.Fpu.Xmm[index * 2], Cpu.Fpu.Xmm[index * 2 + 1]);

    private static Vector128<ulong> Text(string text)
    {
        var bytes = new byte[16];
        for (int i = 0; i < text.Length; i++) bytes[i] = (byte)text[i];
        return Vector128.Create<byte>(bytes).AsUInt64();
    }

    private static Vector128<ulong> Words(params ushort[] words)
    {
        var all = new ushort[8];
        words.CopyTo(all, 0);
        return Vector128.Create<ushort>(all).AsUInt64();
    }

    // ---- CRC32 ----

    [Fact]
    public void Crc32_MatchesTheHostForEveryFormAndSize()
    {
        Assert.True(Sse42.X64.IsSupported, "this machine's processor has SSE4.2");
        var rng = new Random(4242);
        for (int i = 0; i < 300; i++)
        {
            ulong crcIn = (ulong)rng.NextInt64() ^ (ulong)rng.Next() << 63, data = (ulong)rng.NextInt64() ^ (ulong)rng.Next() << 63;
            ulong flags = ArithmeticFlags & (ulong)rng.NextInt64();
            Cpu.Rflags = X86.FlagReserved1 | flags;

            Check("crc32 eax, bl", a => a.crc32(eax, bl), Sse42.Crc32((uint)crcIn, (byte)data));
            Check("crc32 eax, bh", a => a.crc32(eax, bh), Sse42.Crc32((uint)crcIn, (byte)(data >> 8)));
            Check("crc32 eax, bx", a => a.crc32(eax, bx), Sse42.Crc32((uint)crcIn, (ushort)data));
            Check("crc32 eax, ebx", a => a.crc32(eax, ebx), Sse42.Crc32((uint)crcIn, (uint)data));
            Check("crc32 rax, bl", a => a.crc32(rax, bl), Sse42.Crc32((uint)crcIn, (byte)data));
            Check("crc32 rax, rbx", a => a.crc32(rax, rbx), Sse42.X64.Crc32(crcIn, data));
            Check("crc32 eax, byte [rdi]", a => a.crc32(eax, __byte_ptr[rdi]), Sse42.Crc32((uint)crcIn, (byte)data));
            Check("crc32 eax, word [rdi]", a => a.crc32(eax, __word_ptr[rdi]), Sse42.Crc32((uint)crcIn, (ushort)data));
            Check("crc32 eax, dword [rdi]", a => a.crc32(eax, __dword_ptr[rdi]), Sse42.Crc32((uint)crcIn, (uint)data));
            Check("crc32 rax, byte [rdi]", a => a.crc32(rax, __byte_ptr[rdi]), Sse42.Crc32((uint)crcIn, (byte)data));
            Check("crc32 rax, qword [rdi]", a => a.crc32(rax, __qword_ptr[rdi]), Sse42.X64.Crc32(crcIn, data));

            void Check(string form, Action<Assembler> build, ulong expected)
            {
                Cpu.Rax = crcIn;
                Cpu.Rbx = data;
                // A misaligned operand: CRC32 has no alignment requirement.
                Cpu.Gpr[7] = Data + 3;
                _machine.Memory.Write(Data + 3, BitConverter.GetBytes(data));
                Run(form, build);
                Assert.True(expected == Cpu.Rax, $"{form} with crc 0x{crcIn:x}, data 0x{data:x}: 0x{Cpu.Rax:x}, host 0x{expected:x}");
                Assert.Equal(X86.FlagReserved1 | flags, Cpu.Rflags & (ArithmeticFlags | X86.FlagReserved1));
                Assert.Equal(data, Cpu.Rbx);
            }
        }
    }

    [Fact]
    public void Crc32_OfTheStandardCheckStringIsTheCatalogueValue()
    {
        // CRC-32C (Castagnoli) of "123456789" with the customary all-ones start and final inversion is 0xE3069283.
        _machine.Memory.Write(Data, "123456789"u8);
        Run("crc32 loop", a =>
        {
            var loop = a.CreateLabel();
            a.mov(eax, -1);
            a.mov(ecx, 9);
            a.mov(esi, (uint)Data);
            a.Label(ref loop);
            a.crc32(eax, __byte_ptr[rsi]);
            a.inc(rsi);
            a.dec(ecx);
            a.jnz(loop);
            a.not(eax);
        });
        Assert.Equal(0xE3069283UL, Cpu.Rax);
    }

    // ---- PCMPGTQ ----

    [Fact]
    public void Pcmpgtq_MatchesTheHostAndDemandsAlignedMemory()
    {
        long[] edges = [0, 1, -1, long.MaxValue, long.MinValue, 2, -2, long.MaxValue - 1, long.MinValue + 1];
        var rng = new Random(4243);
        for (int i = 0; i < 200; i++)
        {
            long Pick() => rng.Next(2) == 0 ? edges[rng.Next(edges.Length)] : rng.NextInt64() ^ (long)rng.Next(2) << 63;
            var a = Vector128.Create(Pick(), Pick());
            var b = i % 5 == 0 ? a : Vector128.Create(Pick(), Pick());
            Vector128<ulong> expected = Sse42.CompareGreaterThan(a, b).AsUInt64();
            SetXmm(3, a.AsUInt64());
            SetXmm(9, b.AsUInt64());
            Run("pcmpgtq xmm3, xmm9", x => x.pcmpgtq(xmm3, xmm9));
            Assert.Equal(expected, GetXmm(3));

            SetXmm(3, a.AsUInt64());
            _machine.Memory.Write(Data, MemoryMarshal.AsBytes([b]).ToArray());
            Cpu.Gpr[7] = Data;
            Run("pcmpgtq xmm3, [rdi]", x => x.pcmpgtq(xmm3, __xmmword_ptr[rdi]));
            Assert.Equal(expected, GetXmm(3));
        }

        Cpu.Gpr[7] = Data + 8;
        Run("pcmpgtq xmm3, [rdi] misaligned", x => x.pcmpgtq(xmm3, __xmmword_ptr[rdi]));
        Assert.Equal(CpuTestMachine.AfterHandler(X86.VectorGeneralProtection), Cpu.Rip);
    }

    // ---- PCMPxSTRx: hand-worked cases ----

    private (uint Ecx, ulong Flags) StringIndex(Vector128<ulong> source1, Vector128<ulong> source2, byte control, long? eax = null, long? edx = null)
    {
        SetXmm(1, source1);
        SetXmm(2, source2);
        Cpu.Rcx = 0xDEAD_BEEF_0000_0000;
        if (eax is null)
        {
            Run($"pcmpistri {control}", a => a.pcmpistri(xmm1, xmm2, control));
        }
        else
        {
            Cpu.Rax = (ulong)eax.Value;
            Cpu.Rdx = (ulong)edx!.Value;
            Run($"pcmpestri {control}", a => a.pcmpestri(xmm1, xmm2, control));
        }
        // ECX is written zero-extended into RCX.
        Assert.True(Cpu.Rcx <= 16, $"RCX 0x{Cpu.Rcx:x}");
        return ((uint)Cpu.Rcx, Cpu.Rflags & ArithmeticFlags);
    }

    [Fact]
    public void EqualAny_FindsTheFirstMemberOfTheSet()
    {
        // 'e' (index 1) is the first character of "hello world" among the vowels; both strings end early (ZF, SF).
        var (index, flags) = StringIndex(Text("aeiou"), Text("hello world"), 0x00);
        Assert.Equal(1u, index);
        Assert.Equal(X86.FlagCarry | X86.FlagZero | X86.FlagSign, flags);
        // Most significant instead: 'o' of "world" at 7.
        Assert.Equal(7u, StringIndex(Text("aeiou"), Text("hello world"), 0x40).Ecx);
    }

    [Fact]
    public void Ranges_FindsTheFirstLetterAndIgnoresAnUnpairedBound()
    {
        var (index, flags) = StringIndex(Text("azAZ"), Text("12.Q5x"), 0x04);
        Assert.Equal(3u, index);
        Assert.Equal(X86.FlagCarry | X86.FlagZero | X86.FlagSign, flags);
        // With the length cut to three, "Z" loses its lower bound "A": only a..z remains.
        Assert.Equal(5u, StringIndex(Text("azAZ"), Text("12.Q5x"), 0x04, eax: 3, edx: 6).Ecx);
    }

    [Fact]
    public void EqualEach_NegativePolarityFindsTheFirstDifference()
    {
        Assert.Equal(2u, StringIndex(Text("abcd"), Text("abxd"), 0x18).Ecx);
        // Identical strings: past both ends the elements count as equal, so nothing differs and no bit is set.
        var (index, flags) = StringIndex(Text("abc"), Text("abc"), 0x18);
        Assert.Equal(16u, index);
        Assert.Equal(X86.FlagZero | X86.FlagSign, flags);
        // Masked negative inverts only inside source 2: bit 3 (the terminator position) is the first one left set.
        var (masked, maskedFlags) = StringIndex(Text("abc"), Text("abc"), 0x38);
        Assert.Equal(3u, masked);
        Assert.Equal(X86.FlagCarry | X86.FlagZero | X86.FlagSign, maskedFlags);
        // A shorter first string differs at its end.
        Assert.Equal(2u, StringIndex(Text("ab"), Text("abc"), 0x18).Ecx);
    }

    [Fact]
    public void EqualOrdered_FindsASubstringAndAPartialMatchAtTheRegisterEnd()
    {
        var (index, flags) = StringIndex(Text("lo"), Text("hello"), 0x0C);
        Assert.Equal(3u, index);
        Assert.Equal(X86.FlagCarry | X86.FlagZero | X86.FlagSign, flags);
        // The needle's first character in the last element is a match that runs off the end of the register; OF is bit 0.
        var (partial, partialFlags) = StringIndex(Text("xy"), Text("aaaaaaaaaaaaaaax"), 0x0C);
        Assert.Equal(15u, partial);
        Assert.Equal(X86.FlagCarry | X86.FlagSign, partialFlags);
        // An empty needle matches everywhere, including position 0 (OF).
        var (empty, emptyFlags) = StringIndex(Text(""), Text("abc"), 0x0C);
        Assert.Equal(0u, empty);
        Assert.Equal(X86.FlagCarry | X86.FlagZero | X86.FlagSign | X86.FlagOverflow, emptyFlags);
    }

    [Fact]
    public void ExplicitLengths_TakeTheAbsoluteValueSaturatedAndIgnoreTheUpperHalf()
    {
        // Equal each over "abcdefgh" against itself: lengths decide where the strings stop.
        Vector128<ulong> text = Text("abcdefghijklmnop");
        // -3 is length 3, 100 saturates to 16: element 3 is valid in one string only, so the first difference is 3.
        Assert.Equal(3u, StringIndex(text, text, 0x18, eax: -3, edx: 100).Ecx);
        // The upper half of RAX is not part of EAX: 0x1_0000_0005 is length 5 for the 32-bit form.
        Assert.Equal(5u, StringIndex(text, text, 0x18, eax: 0x1_0000_0005, edx: 16).Ecx);
        // int.MinValue's magnitude saturates.
        var (index, flags) = StringIndex(text, text, 0x18, eax: int.MinValue, edx: -16);
        Assert.Equal(16u, index);
        Assert.Equal(0UL, flags);

        SetXmm(1, text);
        SetXmm(2, text);
        Cpu.Rax = 0x1_0000_0005;
        Cpu.Rdx = 16;
        Run("pcmpestri64 0x18", a => a.pcmpestri64(xmm1, xmm2, 0x18));
        Assert.Equal(16UL, Cpu.Rcx);
        Assert.Equal(0UL, Cpu.Rflags & ArithmeticFlags);
    }

    [Fact]
    public void Masks_AreABitFieldOrExpandedElements()
    {
        SetXmm(0, Vector128.Create(ulong.MaxValue, ulong.MaxValue));
        SetXmm(1, Words(0x0041, 0x0043));
        SetXmm(2, Words(0x0043, 0x0042, 0x0041, 0x4100));
        // Unsigned words, equal any: elements 0 and 2 of source 2 are in the set; the bit mask is zero-extended.
        Run("pcmpistrm 0x01", a => a.pcmpistrm(xmm1, xmm2, 0x01));
        Assert.Equal(Vector128.Create(0b101UL, 0UL), GetXmm(0));
        Assert.Equal(X86.FlagCarry | X86.FlagZero | X86.FlagSign | X86.FlagOverflow, Cpu.Rflags & ArithmeticFlags);
        Run("pcmpistrm 0x41", a => a.pcmpistrm(xmm1, xmm2, 0x41));
        Assert.Equal(Words(0xFFFF, 0, 0xFFFF).AsUInt64(), GetXmm(0));
        // Bytes, expanded, with explicit lengths of 16: the zero bytes past "A" are valid set members, so they match the
        // zero bytes past "xAyA" as well as both 'A's.
        Cpu.Rax = 16;
        Cpu.Rdx = 16;
        SetXmm(1, Text("A"));
        SetXmm(2, Text("xAyA"));
        Run("pcmpestrm 0x40", a => a.pcmpestrm(xmm1, xmm2, 0x40));
        Assert.Equal(Vector128.Create(0xFFFF_FFFF_FF00_FF00UL, ulong.MaxValue), GetXmm(0));
        Assert.Equal(X86.FlagCarry, Cpu.Rflags & ArithmeticFlags);
    }

    [Fact]
    public void MemoryOperand_IsNotAlignmentChecked()
    {
        _machine.Memory.Write(Data + 1, "needle in a hay\0"u8);
        SetXmm(1, Text("y"));
        Cpu.Gpr[7] = Data + 1;
        Run("pcmpistri xmm1, [rdi]", a => a.pcmpistri(xmm1, __xmmword_ptr[rdi], 0x00));
        Assert.Equal(14UL, Cpu.Rcx);
    }

    [Theory]
    [InlineData(4, X86.VectorAlignmentCheck)]
    [InlineData(8, X86.VectorAlignmentCheck)]
    [InlineData(16, X86.VectorGeneralProtection)]
    public void MemoryOperand_AlignmentCheckIsAtSixteenBytes(int offset, int vector)
    {
        // At CPL 3 with CR0.AM and RFLAGS.AC the EPYC raises #AC for PCMPISTRI [r15+4] and [r15+8] and not for [r15]
        // (probed with kvmsharp-fuzz --probe); with no fault, the HLT after it raises #GP at CPL 3.
        using var m = new CpuTestMachine();
        m.SetupLongMode(cpl: 3);
        m.Cpu.Cr0 |= X86.Cr0Am;
        m.Cpu.Rflags |= X86.FlagAlignmentCheck;
        m.Cpu.NotifyStateChanged();
        m.Cpu.Gpr[7] = Data + (ulong)offset;
        m.LoadCode(Code, a => { a.pcmpistri(xmm1, __xmmword_ptr[rdi], 0x00); a.hlt(); });
        Assert.Equal(CpuExitReason.Hlt, m.Run());
        Assert.Equal(CpuTestMachine.AfterHandler(vector), m.Cpu.Rip);
    }

    // ---- PCMPxSTRx: every control byte against this processor ----

    /// <summary>Characters chosen so that equalities, ranges and signedness all matter, with zeros now and then.</summary>
    private static readonly byte[] s_byteAlphabet = [(byte)'a', (byte)'b', (byte)'c', (byte)'z', 0x01, 0x7F, 0x80, 0xFF, 0x61, 0x62];
    private static readonly ushort[] s_wordAlphabet = [0x0061, 0x0062, 0x6100, 0x7FFF, 0x8000, 0xFFFF, 0x0001, 0x8061];

    private static Vector128<ulong> RandomString(Random rng, bool words, int zeroPercent)
    {
        var bytes = new byte[16];
        if (words)
        {
            for (int i = 0; i < 8; i++)
            {
                ushort w = rng.Next(100) < zeroPercent ? (ushort)0 : s_wordAlphabet[rng.Next(s_wordAlphabet.Length)];
                BitConverter.TryWriteBytes(bytes.AsSpan(i * 2), w);
            }
        }
        else
        {
            for (int i = 0; i < 16; i++) bytes[i] = rng.Next(100) < zeroPercent ? (byte)0 : s_byteAlphabet[rng.Next(s_byteAlphabet.Length)];
        }
        return Vector128.Create<byte>(bytes).AsUInt64();
    }

    /// <summary>
    /// Both results of one control byte on the host: RAX returns the index (low half) and the flags after the *I form
    /// (high half); XMM0 and RFLAGS are those of the *M form. Explicit lengths come from <paramref name="lengths"/>.
    /// </summary>
    private static HostSseStub HostStub(byte control, bool explicitLengths, bool wide, nint lengths) => new(a =>
    {
        if (explicitLengths)
        {
            a.mov(r10, (ulong)lengths);
            a.mov(rax, __qword_ptr[r10]);
            a.mov(rdx, __qword_ptr[r10 + 8]);
            if (wide) a.pcmpestri64(xmm0, xmm1, control); else a.pcmpestri(xmm0, xmm1, control);
        }
        else
        {
            a.pcmpistri(xmm0, xmm1, control);
        }
        a.mov(r8, rcx);
        a.pushfq();
        a.pop(r9);
        a.shl(r9, 32);
        a.or(r8, r9);
        // Nothing after the mask form may change the flags: the stub reports them as they are at its end.
        if (explicitLengths)
        {
            if (wide) a.pcmpestrm64(xmm0, xmm1, control); else a.pcmpestrm(xmm0, xmm1, control);
        }
        else
        {
            a.pcmpistrm(xmm0, xmm1, control);
        }
        a.mov(rax, r8);
    });

    [Fact]
    public unsafe void StringCompares_MatchThisProcessorForEveryControlByte()
    {
        var rng = new Random(4244);
        long* lengths = (long*)NativeMemory.Alloc(16);
        try
        {
            for (int control = 0; control < 256; control++)
            {
                foreach (bool explicitLengths in (bool[])[false, true])
                {
                    bool wide = explicitLengths && control % 3 == 0;
                    using HostSseStub host = HostStub((byte)control, explicitLengths, wide, (nint)lengths);
                    bool words = (control & 1) != 0;
                    for (int i = 0; i < 12; i++)
                    {
                        Vector128<ulong> source1 = RandomString(rng, words, zeroPercent: explicitLengths ? 10 : 6);
                        // Source 2 is sometimes built from source 1 so that equal each / equal ordered find matches.
                        Vector128<ulong> source2 = rng.Next(3) == 0 ? Shifted(source1, rng.Next(4) * (words ? 2 : 1)) : RandomString(rng, words, 6);
                        long length1 = RandomLength(rng, wide), length2 = RandomLength(rng, wide);
                        lengths[0] = length1;
                        lengths[1] = length2;
                        var (xmm, rax, hostFlagsM, _) = host.Run128((source1.GetElement(0), source1.GetElement(1)),
                            (source2.GetElement(0), source2.GetElement(1)), 0x1F80);

                        SetXmm(0, source1);
                        SetXmm(1, source2);
                        Cpu.Rax = (ulong)length1;
                        Cpu.Rdx = (ulong)length2;
                        string form = explicitLengths ? (wide ? "pcmpestri64" : "pcmpestri") : "pcmpistri";
                        string what = $"{form} 0x{control:x2} on {source1.GetElement(1):x16}{source1.GetElement(0):x16} / " +
                            $"{source2.GetElement(1):x16}{source2.GetElement(0):x16}, lengths {length1}, {length2}";
                        Run($"host-shaped {form} {control}", a =>
                        {
                            if (!explicitLengths) a.pcmpistri(xmm0, xmm1, (byte)control);
                            else if (wide) a.pcmpestri64(xmm0, xmm1, (byte)control);
                            else a.pcmpestri(xmm0, xmm1, (byte)control);
                        });
                        Assert.True((uint)rax == Cpu.Rcx, $"{what}: ECX {Cpu.Rcx}, host {(uint)rax}");
                        Assert.True(((rax >> 32) & ArithmeticFlags) == (Cpu.Rflags & ArithmeticFlags),
                            $"{what}: flags 0x{Cpu.Rflags & ArithmeticFlags:x}, host 0x{(rax >> 32) & ArithmeticFlags:x}");

                        Run($"host-shaped mask {form} {control}", a =>
                        {
                            if (!explicitLengths) a.pcmpistrm(xmm0, xmm1, (byte)control);
                            else if (wide) a.pcmpestrm64(xmm0, xmm1, (byte)control);
                            else a.pcmpestrm(xmm0, xmm1, (byte)control);
                        });
                        Assert.True(Vector128.Create(xmm.Low, xmm.High) == GetXmm(0),
                            $"{what}: mask {GetXmm(0).GetElement(1):x16}{GetXmm(0).GetElement(0):x16}, host {xmm.High:x16}{xmm.Low:x16}");
                        Assert.True((hostFlagsM & ArithmeticFlags) == (Cpu.Rflags & ArithmeticFlags), $"{what}: mask form's flags");
                    }
                }
            }
        }
        finally
        {
            NativeMemory.Free(lengths);
        }
    }

    private static Vector128<ulong> Shifted(Vector128<ulong> value, int bytes)
    {
        Span<byte> source = stackalloc byte[16], result = stackalloc byte[16];
        value.AsByte().CopyTo(source);
        result.Clear();
        source[bytes..].CopyTo(result);
        return Vector128.Create<byte>(result).AsUInt64();
    }

    /// <summary>Lengths around the element counts, of either sign, and sometimes large (with garbage above bit 31 for the 32-bit forms).</summary>
    private static long RandomLength(Random rng, bool wide)
    {
        long value = rng.Next(10) switch
        {
            0 => rng.NextInt64(long.MinValue, long.MaxValue),
            1 => rng.Next(2) == 0 ? int.MinValue : int.MaxValue,
            _ => rng.Next(-20, 21),
        };
        if (!wide && rng.Next(3) == 0) value = (long)((ulong)(uint)value | (ulong)rng.NextInt64() << 32);
        return value;
    }
}
