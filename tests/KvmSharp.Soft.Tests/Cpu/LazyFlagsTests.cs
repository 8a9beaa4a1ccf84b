using System.Numerics;
using Iced.Intel;
using KvmSharp.Soft.Cpu;
using static Iced.Intel.AssemblerRegisters;

namespace KvmSharp.Soft.Tests.Cpu;

/// <summary>
/// The interpreter leaves the arithmetic flags of common ALU shapes (32/64-bit registers, memory destinations) to be
/// worked out when something reads them. Every reader must see exactly what the processor would have set: the
/// register state the kernel reads, PUSHF, LAHF, an exception frame, a later ADC, and every Jcc condition.
/// Expected flags here are worked out by hand from the SDM's definitions.
/// </summary>
public class LazyFlagsTests
{
    private const ulong CF = X86.FlagCarry, PF = X86.FlagParity, AF = X86.FlagAdjust, ZF = X86.FlagZero, SF = X86.FlagSign, OF = X86.FlagOverflow;
    private const ulong DataAddress = 0x200000;

    public enum Reader { RegisterState, Pushf, Lahf, ExceptionFrame }

    /// <summary>Each row: operation, width, destination, source, expected destination, expected flags (CF set before).</summary>
    public static TheoryData<string, int, ulong, ulong, ulong, ulong> Cases => new()
    {
        { "add", 32, 0x7FFFFFFF, 1, 0x80000000, OF | SF | AF | PF },
        { "add", 64, ulong.MaxValue, 1, 0, CF | ZF | PF | AF },
        { "sub", 32, 1, 2, 0xFFFFFFFF, CF | SF | PF | AF },
        { "cmp", 64, 5, 5, 5, ZF | PF },
        { "cmp", 32, 0x80000000, 1, 0x80000000, OF | AF | PF },
        { "and", 32, 0xF0, 0x0F, 0, ZF | PF },
        { "or", 64, 0x8000000000000000, 1, 0x8000000000000001, SF },
        { "xor", 32, 0xFF, 0x0F, 0xF0, PF },
        { "test", 64, 0x8000000000000000, 0x8000000000000000, 0x8000000000000000, SF | PF },
        { "inc", 32, 0x7FFFFFFF, 0, 0x80000000, CF | OF | SF | AF | PF },
        { "dec", 64, 0, 0, ulong.MaxValue, CF | SF | PF | AF },
        { "neg", 32, 0, 0, 0, ZF | PF },
        { "neg", 64, 1, 0, ulong.MaxValue, CF | SF | PF | AF },
        { "shl", 32, 0xC0000001, 1, 0x80000002, CF | SF },
        { "shr", 64, 0x8000000000000003, 1, 0x4000000000000001, CF | OF },
        { "sar", 32, 0x80000001, 4, 0xF8000000, SF | PF },
        // A count of zero changes no flag (CF stays from STC) but still zero-extends a 32-bit destination.
        { "shl-cl", 32, 0xFFFFFFFF00000001, 0, 1, CF },
        { "add-mem", 64, ulong.MaxValue, 1, 0, CF | ZF | PF | AF },
        { "sub-mem", 32, 0, 1, 0xFFFFFFFF, CF | SF | PF | AF },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void EveryReaderSeesTheFlagsOfTheLastOperation(string operation, int width, ulong destination, ulong source, ulong expected, ulong expectedFlags)
    {
        foreach (Reader reader in Enum.GetValues<Reader>())
        {
            using var machine = new CpuTestMachine();
            machine.SetupLongMode();
            machine.Memory.Write64(DataAddress, destination);
            machine.LoadCode(CpuTestMachine.CodeBase, a =>
            {
                a.mov(rax, (long)destination);
                a.mov(rbx, (long)source);
                a.mov(rcx, (long)source);
                a.mov(rdi, (long)DataAddress);
                a.stc();
                Emit(a, operation, width);
                a.mov(r8, rax);
                switch (reader)
                {
                    case Reader.Pushf: a.pushfq(); a.pop(r9); break;
                    case Reader.Lahf: a.lahf(); a.mov(r9, rax); break;
                    case Reader.ExceptionFrame: a.int3(); break;
                }
                a.hlt();
            });
            Assert.Equal(CpuExitReason.Hlt, machine.Run());
            X86Cpu cpu = machine.Cpu;
            ulong result = operation.EndsWith("-mem") ? (width == 64 ? machine.Memory.Read64(DataAddress) : machine.Memory.Read32(DataAddress)) : cpu.Gpr[8];
            Assert.Equal(expected, result);
            ulong flags = reader switch
            {
                Reader.RegisterState => cpu.Rflags,
                Reader.Pushf => cpu.Gpr[9],
                // LAHF loads SF:ZF:0:AF:0:PF:1:CF into AH.
                Reader.Lahf => (cpu.Gpr[9] >> 8) & 0xFF,
                _ => machine.Memory.Read64(cpu.Rsp + 16),
            };
            ulong readable = reader == Reader.Lahf ? CF | PF | AF | ZF | SF : X86.ArithmeticFlags;
            Assert.True((flags & readable) == (expectedFlags & readable), $"{operation}/{width} via {reader}: flags 0x{flags & readable:x}, expected 0x{expectedFlags & readable:x}");
            if (reader == Reader.Lahf) Assert.Equal(2UL, flags & 0x2A);
        }
    }

    private static void Emit(Assembler a, string operation, int width)
    {
        AssemblerRegister64 d64 = rax, s64 = rbx;
        AssemblerRegister32 d32 = eax, s32 = ebx;
        bool wide = width == 64;
        switch (operation)
        {
            case "add": if (wide) a.add(d64, s64); else a.add(d32, s32); break;
            case "sub": if (wide) a.sub(d64, s64); else a.sub(d32, s32); break;
            case "cmp": if (wide) a.cmp(d64, s64); else a.cmp(d32, s32); break;
            case "and": if (wide) a.and(d64, s64); else a.and(d32, s32); break;
            case "or": if (wide) a.or(d64, s64); else a.or(d32, s32); break;
            case "xor": if (wide) a.xor(d64, s64); else a.xor(d32, s32); break;
            case "test": if (wide) a.test(d64, s64); else a.test(d32, s32); break;
            case "inc": if (wide) a.inc(d64); else a.inc(d32); break;
            case "dec": if (wide) a.dec(d64); else a.dec(d32); break;
            case "neg": if (wide) a.neg(d64); else a.neg(d32); break;
            case "shl": if (wide) a.shl(d64, 1); else a.shl(d32, 1); break;
            case "shr": if (wide) a.shr(d64, 1); else a.shr(d32, 1); break;
            case "sar": if (wide) a.sar(d64, 4); else a.sar(d32, 4); break;
            case "shl-cl": if (wide) a.shl(d64, cl); else a.shl(d32, cl); break;
            case "add-mem": if (wide) a.add(__qword_ptr[rdi], s64); else a.add(__dword_ptr[rdi], s32); break;
            case "sub-mem": if (wide) a.sub(__qword_ptr[rdi], s64); else a.sub(__dword_ptr[rdi], s32); break;
            default: throw new ArgumentException($"no such operation {operation}");
        }
    }

    [Fact]
    public void AdcAndIncConsumeTheCarryOfADeferredAdd()
    {
        using var machine = new CpuTestMachine();
        machine.SetupLongMode();
        machine.LoadCode(CpuTestMachine.CodeBase, a =>
        {
            a.mov(eax, -1);
            a.add(eax, 1);       // CF = 1, left undecided
            a.inc(ecx);          // keeps CF
            a.mov(ebx, 0);
            a.adc(ebx, 0);       // 0 + 0 + CF
            a.hlt();
        });
        Assert.Equal(CpuExitReason.Hlt, machine.Run());
        Assert.Equal(1UL, machine.Cpu.Rbx);
        Assert.Equal(1UL, machine.Cpu.Rcx);
    }

    public static TheoryData<string, ulong, ulong> ConditionCases => new()
    {
        { "cmp32", 5, 5 }, { "cmp32", 1, 2 }, { "cmp32", 0x80000000, 1 }, { "cmp32", 0x7FFFFFFF, 0xFFFFFFFF },
        { "cmp64", 0x8000000000000000, 1 }, { "cmp64", 3, 0xFFFFFFFFFFFFFFFD }, { "cmp64", 0, 0 },
        { "test32", 0x80000000, 0xFFFFFFFF }, { "test64", 0xF0, 0x0F }, { "test64", 0x3, 0x1 },
        { "add32", 0x7FFFFFFF, 1 }, { "add64", ulong.MaxValue, 1 }, { "add64", 0x81, 0x2 },
        { "shl32", 0xC0000001, 1 }, { "dec64", 1, 0 },
    };

    /// <summary>All sixteen Jcc conditions after each producer agree with flags computed by plain integer arithmetic.</summary>
    [Theory]
    [MemberData(nameof(ConditionCases))]
    public void JccTakesTheArchitecturalDecision(string producer, ulong left, ulong right)
    {
        ConditionCode[] codes =
        [
            ConditionCode.o, ConditionCode.no, ConditionCode.b, ConditionCode.ae, ConditionCode.e, ConditionCode.ne,
            ConditionCode.be, ConditionCode.a, ConditionCode.s, ConditionCode.ns, ConditionCode.p, ConditionCode.np,
            ConditionCode.l, ConditionCode.ge, ConditionCode.le, ConditionCode.g,
        ];
        using var machine = new CpuTestMachine();
        machine.SetupLongMode();
        machine.LoadCode(CpuTestMachine.CodeBase, a =>
        {
            a.xor(r8d, r8d);
            for (int k = 0; k < codes.Length; k++)
            {
                Label taken = a.CreateLabel(), next = a.CreateLabel();
                a.mov(rax, (long)left);
                a.mov(rbx, (long)right);
                switch (producer)
                {
                    case "cmp32": a.cmp(eax, ebx); break;
                    case "cmp64": a.cmp(rax, rbx); break;
                    case "test32": a.test(eax, ebx); break;
                    case "test64": a.test(rax, rbx); break;
                    case "add32": a.add(eax, ebx); break;
                    case "add64": a.add(rax, rbx); break;
                    case "shl32": a.shl(eax, 1); break;
                    case "dec64": a.dec(rax); break;
                }
                EmitJcc(a, codes[k], taken);
                a.jmp(next);
                a.Label(ref taken);
                a.or(r8d, 1 << k);
                a.Label(ref next);
            }
            a.hlt();
        });
        Assert.Equal(CpuExitReason.Hlt, machine.Run(100_000));
        ExpectedFlags(producer, left, right, out bool cf, out bool zf, out bool sf, out bool of, out bool pf);
        for (int k = 0; k < codes.Length; k++)
        {
            bool expected = codes[k] switch
            {
                ConditionCode.o => of, ConditionCode.no => !of, ConditionCode.b => cf, ConditionCode.ae => !cf,
                ConditionCode.e => zf, ConditionCode.ne => !zf, ConditionCode.be => cf || zf, ConditionCode.a => !cf && !zf,
                ConditionCode.s => sf, ConditionCode.ns => !sf, ConditionCode.p => pf, ConditionCode.np => !pf,
                ConditionCode.l => sf != of, ConditionCode.ge => sf == of, ConditionCode.le => zf || sf != of,
                _ => !zf && sf == of,
            };
            Assert.True(expected == ((machine.Cpu.Gpr[8] >> k & 1) != 0), $"{producer} 0x{left:x}, 0x{right:x}: J{codes[k]} should be {(expected ? "taken" : "not taken")}");
        }
    }

    private static void EmitJcc(Assembler a, ConditionCode code, Label target)
    {
        switch (code)
        {
            case ConditionCode.o: a.jo(target); break;
            case ConditionCode.no: a.jno(target); break;
            case ConditionCode.b: a.jb(target); break;
            case ConditionCode.ae: a.jae(target); break;
            case ConditionCode.e: a.je(target); break;
            case ConditionCode.ne: a.jne(target); break;
            case ConditionCode.be: a.jbe(target); break;
            case ConditionCode.a: a.ja(target); break;
            case ConditionCode.s: a.js(target); break;
            case ConditionCode.ns: a.jns(target); break;
            case ConditionCode.p: a.jp(target); break;
            case ConditionCode.np: a.jnp(target); break;
            case ConditionCode.l: a.jl(target); break;
            case ConditionCode.ge: a.jge(target); break;
            case ConditionCode.le: a.jle(target); break;
            default: a.jg(target); break;
        }
    }

    /// <summary>The flags by their definitions, from unbounded integer arithmetic (no CPU code involved).</summary>
    private static void ExpectedFlags(string producer, ulong left, ulong right, out bool cf, out bool zf, out bool sf, out bool of, out bool pf)
    {
        int bits = producer.EndsWith("32") ? 32 : 64;
        BigInteger modulus = BigInteger.One << bits;
        BigInteger a = left % modulus, b = right % modulus;
        BigInteger Signed(BigInteger v) => v >= modulus / 2 ? v - modulus : v;
        BigInteger exact;
        BigInteger signedExact;
        cf = false;
        string kind = producer[..^2];
        switch (kind)
        {
            case "cmp":
                exact = a - b;
                signedExact = Signed(a) - Signed(b);
                cf = a < b;
                break;
            case "add":
                exact = a + b;
                signedExact = Signed(a) + Signed(b);
                cf = exact >= modulus;
                break;
            case "shl":
                exact = a * 2;
                signedExact = Signed(a) * 2;
                cf = exact >= modulus;
                break;
            case "dec":
                exact = a - 1;
                signedExact = Signed(a) - 1;
                cf = false; // DEC keeps CF, which the snippet's earlier XOR cleared.
                break;
            default: // "test"
                exact = a & b;
                signedExact = Signed(exact % modulus);
                break;
        }
        BigInteger result = ((exact % modulus) + modulus) % modulus;
        zf = result.IsZero;
        sf = result >= modulus / 2;
        of = kind switch
        {
            "test" => false,
            // SHL by one: OF = MSB(result) XOR CF.
            "shl" => sf != cf,
            _ => signedExact != Signed(result),
        };
        pf = BitOperations.PopCount((uint)(result & 0xFF)) % 2 == 0;
    }
}
