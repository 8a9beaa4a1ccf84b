using Iced.Intel;

namespace KvmSharp.Soft.Cpu;

public sealed unsafe partial class X86Cpu
{
    /// <summary>
    /// Executes one decoded instruction. On entry <see cref="_nextRip"/> is the fall-through RIP; branches replace it.
    /// Faults are thrown as <see cref="GuestFault"/> before any architectural state is committed.
    /// </summary>
    private void Execute(ref Instruction instruction)
    {
        switch (instruction.Mnemonic)
        {
            // ---- Data movement ----
            case Mnemonic.Mov: ExecuteMov(ref instruction); break;
            case Mnemonic.Movzx:
            {
                int sourceSize = OperandSize(ref instruction, 1);
                WriteRegister(instruction.Op0Register, ReadOperand(ref instruction, 1, sourceSize));
                break;
            }
            case Mnemonic.Movsx:
            case Mnemonic.Movsxd:
            {
                int sourceSize = OperandSize(ref instruction, 1);
                WriteRegister(instruction.Op0Register, (ulong)SignExtend(ReadOperand(ref instruction, 1, sourceSize), sourceSize));
                break;
            }
            case Mnemonic.Lea:
                WriteRegister(instruction.Op0Register, EffectiveAddress(ref instruction));
                break;
            case Mnemonic.Xchg: ExecuteXchg(ref instruction); break;
            case Mnemonic.Cmovo: case Mnemonic.Cmovno: case Mnemonic.Cmovb: case Mnemonic.Cmovae:
            case Mnemonic.Cmove: case Mnemonic.Cmovne: case Mnemonic.Cmovbe: case Mnemonic.Cmova:
            case Mnemonic.Cmovs: case Mnemonic.Cmovns: case Mnemonic.Cmovp: case Mnemonic.Cmovnp:
            case Mnemonic.Cmovl: case Mnemonic.Cmovge: case Mnemonic.Cmovle: case Mnemonic.Cmovg:
            {
                int size = OperandSize(ref instruction, 0);
                // The source is read (and may fault) even when the condition is false; a 32-bit destination is zero-extended either way.
                ulong value = ReadOperand(ref instruction, 1, size);
                if (Condition(ref instruction)) WriteRegister(instruction.Op0Register, value);
                else if (size == 4) WriteRegister(instruction.Op0Register, ReadRegister(instruction.Op0Register));
                break;
            }
            case Mnemonic.Seto: case Mnemonic.Setno: case Mnemonic.Setb: case Mnemonic.Setae:
            case Mnemonic.Sete: case Mnemonic.Setne: case Mnemonic.Setbe: case Mnemonic.Seta:
            case Mnemonic.Sets: case Mnemonic.Setns: case Mnemonic.Setp: case Mnemonic.Setnp:
            case Mnemonic.Setl: case Mnemonic.Setge: case Mnemonic.Setle: case Mnemonic.Setg:
                WriteOperand(ref instruction, 0, 1, Condition(ref instruction) ? 1UL : 0);
                break;
            case Mnemonic.Movbe: ExecuteMovbe(ref instruction); break;
            case Mnemonic.Crc32: ExecuteCrc32(ref instruction); break;
            case Mnemonic.Bswap: ExecuteBswap(ref instruction); break;
            case Mnemonic.Cbw: case Mnemonic.Cwde: case Mnemonic.Cdqe:
            case Mnemonic.Cwd: case Mnemonic.Cdq: case Mnemonic.Cqo:
                ExecuteSignExtendAccumulator(instruction.Mnemonic);
                break;
            case Mnemonic.Xlatb:
            {
                // The table index is AL alone (Iced names the operand [rbx+al]): never all of RAX.
                ulong offset = ReadRegister(instruction.MemoryBase) + (Gpr[0] & 0xFF);
                offset &= instruction.MemoryBase == Register.BX ? 0xFFFFUL : instruction.MemoryBase == Register.EBX ? 0xFFFFFFFFUL : ulong.MaxValue;
                WriteRegister(Register.AL, ReadMemory(MemorySegment(ref instruction), offset, 1));
                break;
            }

            // ---- Arithmetic and logic ----
            case Mnemonic.Add: ExecuteBinaryAlu(ref instruction, AluOp.Add); break;
            case Mnemonic.Or: ExecuteBinaryAlu(ref instruction, AluOp.Or); break;
            case Mnemonic.Adc: ExecuteBinaryAlu(ref instruction, AluOp.Adc); break;
            case Mnemonic.Sbb: ExecuteBinaryAlu(ref instruction, AluOp.Sbb); break;
            case Mnemonic.And: ExecuteBinaryAlu(ref instruction, AluOp.And); break;
            case Mnemonic.Sub: ExecuteBinaryAlu(ref instruction, AluOp.Sub); break;
            case Mnemonic.Xor: ExecuteBinaryAlu(ref instruction, AluOp.Xor); break;
            case Mnemonic.Cmp: ExecuteBinaryAlu(ref instruction, AluOp.Cmp); break;
            case Mnemonic.Test: ExecuteBinaryAlu(ref instruction, AluOp.Test); break;
            case Mnemonic.Inc: ExecuteUnaryAlu(ref instruction, AluOp.Inc); break;
            case Mnemonic.Dec: ExecuteUnaryAlu(ref instruction, AluOp.Dec); break;
            case Mnemonic.Neg: ExecuteUnaryAlu(ref instruction, AluOp.Neg); break;
            case Mnemonic.Not: ExecuteUnaryAlu(ref instruction, AluOp.Not); break;
            case Mnemonic.Mul: ExecuteMul(ref instruction); break;
            case Mnemonic.Imul: ExecuteImul(ref instruction); break;
            case Mnemonic.Div: ExecuteDiv(ref instruction, signed: false); break;
            case Mnemonic.Idiv: ExecuteDiv(ref instruction, signed: true); break;
            case Mnemonic.Rol: ExecuteShift(ref instruction, AluOp.Rol); break;
            case Mnemonic.Ror: ExecuteShift(ref instruction, AluOp.Ror); break;
            case Mnemonic.Rcl: ExecuteShift(ref instruction, AluOp.Rcl); break;
            case Mnemonic.Rcr: ExecuteShift(ref instruction, AluOp.Rcr); break;
            case Mnemonic.Shl: case Mnemonic.Sal: ExecuteShift(ref instruction, AluOp.Shl); break;
            case Mnemonic.Shr: ExecuteShift(ref instruction, AluOp.Shr); break;
            case Mnemonic.Sar: ExecuteShift(ref instruction, AluOp.Sar); break;
            case Mnemonic.Shld: ExecuteDoubleShift(ref instruction, left: true); break;
            case Mnemonic.Shrd: ExecuteDoubleShift(ref instruction, left: false); break;
            case Mnemonic.Bt: ExecuteBitTest(ref instruction, AluOp.Test); break;
            case Mnemonic.Bts: ExecuteBitTest(ref instruction, AluOp.Bts); break;
            case Mnemonic.Btr: ExecuteBitTest(ref instruction, AluOp.Btr); break;
            case Mnemonic.Btc: ExecuteBitTest(ref instruction, AluOp.Btc); break;
            case Mnemonic.Bsf: ExecuteBitScan(ref instruction, forward: true); break;
            case Mnemonic.Bsr: ExecuteBitScan(ref instruction, forward: false); break;
            case Mnemonic.Popcnt: case Mnemonic.Lzcnt: case Mnemonic.Tzcnt:
                ExecuteCountBits(ref instruction, instruction.Mnemonic);
                break;
            case Mnemonic.Xadd: ExecuteXadd(ref instruction); break;
            case Mnemonic.Cmpxchg: ExecuteCmpxchg(ref instruction); break;
            case Mnemonic.Cmpxchg8b: ExecuteCmpxchgWide(ref instruction, is16Bytes: false); break;
            case Mnemonic.Cmpxchg16b: ExecuteCmpxchgWide(ref instruction, is16Bytes: true); break;
            case Mnemonic.Daa: case Mnemonic.Das: case Mnemonic.Aaa: case Mnemonic.Aas:
                ExecuteDecimalAdjust(instruction.Mnemonic);
                break;
            case Mnemonic.Aam: ExecuteAam(ref instruction, multiply: true); break;
            case Mnemonic.Aad: ExecuteAam(ref instruction, multiply: false); break;

            // ---- Flags ----
            case Mnemonic.Clc: Rflags &= ~X86.FlagCarry; break;
            case Mnemonic.Stc: Rflags |= X86.FlagCarry; break;
            case Mnemonic.Cmc: Rflags ^= X86.FlagCarry; break;
            case Mnemonic.Cld: Rflags &= ~X86.FlagDirection; break;
            case Mnemonic.Std: Rflags |= X86.FlagDirection; break;
            case Mnemonic.Cli: ExecuteCli(); break;
            case Mnemonic.Sti: ExecuteSti(); break;
            case Mnemonic.Lahf:
                WriteRegister(Register.AH, (Rflags & 0xD5) | 2);
                break;
            case Mnemonic.Sahf:
                Rflags = (Rflags & ~0xD5UL) | ((Gpr[0] >> 8) & 0xD5);
                break;
            case Mnemonic.Pushf: case Mnemonic.Pushfd: case Mnemonic.Pushfq: ExecutePushf(ref instruction); break;
            case Mnemonic.Popf: case Mnemonic.Popfd: case Mnemonic.Popfq: ExecutePopf(ref instruction); break;

            // ---- Stack ----
            case Mnemonic.Push: ExecutePush(ref instruction); break;
            case Mnemonic.Pop: ExecutePop(ref instruction); break;
            case Mnemonic.Pusha: case Mnemonic.Pushad: ExecutePusha(ref instruction); break;
            case Mnemonic.Popa: case Mnemonic.Popad: ExecutePopa(ref instruction); break;
            case Mnemonic.Enter: ExecuteEnter(ref instruction); break;
            case Mnemonic.Leave: ExecuteLeave(ref instruction); break;

            // ---- Control flow ----
            case Mnemonic.Jmp: ExecuteJmp(ref instruction); break;
            case Mnemonic.Jo: case Mnemonic.Jno: case Mnemonic.Jb: case Mnemonic.Jae:
            case Mnemonic.Je: case Mnemonic.Jne: case Mnemonic.Jbe: case Mnemonic.Ja:
            case Mnemonic.Js: case Mnemonic.Jns: case Mnemonic.Jp: case Mnemonic.Jnp:
            case Mnemonic.Jl: case Mnemonic.Jge: case Mnemonic.Jle: case Mnemonic.Jg:
                if (Condition(ref instruction)) SetBranchTarget(BranchTarget(ref instruction));
                break;
            case Mnemonic.Jcxz: case Mnemonic.Jecxz: case Mnemonic.Jrcxz: ExecuteJcxz(ref instruction); break;
            case Mnemonic.Loop: case Mnemonic.Loope: case Mnemonic.Loopne: ExecuteLoop(ref instruction); break;
            case Mnemonic.Call: ExecuteCall(ref instruction); break;
            case Mnemonic.Ret: ExecuteRet(ref instruction); break;
            case Mnemonic.Retf: ExecuteFarReturn(ref instruction); break;
            case Mnemonic.Int: RaiseSoftwareInterrupt(instruction.Immediate8, InterruptSourceKind.SoftwareInt); break;
            case Mnemonic.Int3: ExecuteInt3(); break;
            case Mnemonic.Into:
                if (_mode64) throw Ud();
                if ((Rflags & X86.FlagOverflow) != 0) RaiseSoftwareInterrupt(X86.VectorOverflow, InterruptSourceKind.SoftwareException);
                break;
            case Mnemonic.Int1: RaiseSoftwareInterrupt(X86.VectorDebug, InterruptSourceKind.PrivilegedSoftwareException); break;
            case Mnemonic.Iret: case Mnemonic.Iretd: case Mnemonic.Iretq: ExecuteIret(ref instruction); break;
            case Mnemonic.Syscall: ExecuteSyscall(); break;
            case Mnemonic.Sysret: case Mnemonic.Sysretq: ExecuteSysret(ref instruction); break;
            case Mnemonic.Sysenter: ExecuteSysenter(); break;
            case Mnemonic.Sysexit: case Mnemonic.Sysexitq: ExecuteSysexit(ref instruction); break;

            // ---- Strings and I/O ----
            case Mnemonic.Movsb: case Mnemonic.Movsw: case Mnemonic.Movsd: case Mnemonic.Movsq:
            case Mnemonic.Cmpsb: case Mnemonic.Cmpsw: case Mnemonic.Cmpsd: case Mnemonic.Cmpsq:
            case Mnemonic.Stosb: case Mnemonic.Stosw: case Mnemonic.Stosd: case Mnemonic.Stosq:
            case Mnemonic.Lodsb: case Mnemonic.Lodsw: case Mnemonic.Lodsd: case Mnemonic.Lodsq:
            case Mnemonic.Scasb: case Mnemonic.Scasw: case Mnemonic.Scasd: case Mnemonic.Scasq:
                if (instruction.Mnemonic == Mnemonic.Movsd && instruction.Op0Kind is OpKind.Register or OpKind.Memory || instruction.Mnemonic == Mnemonic.Cmpsd && instruction.OpCount == 3)
                    ExecuteSse(ref instruction);
                else
                    ExecuteString(ref instruction);
                break;
            case Mnemonic.In: ExecuteIn(ref instruction); break;
            case Mnemonic.Out: ExecuteOut(ref instruction); break;
            case Mnemonic.Insb: case Mnemonic.Insw: case Mnemonic.Insd: ExecuteIns(ref instruction); break;
            case Mnemonic.Outsb: case Mnemonic.Outsw: case Mnemonic.Outsd: ExecuteOuts(ref instruction); break;

            // ---- Miscellaneous ----
            case Mnemonic.Nop: case Mnemonic.Pause: case Mnemonic.Lfence: case Mnemonic.Sfence: case Mnemonic.Mfence:
            case Mnemonic.Prefetch: case Mnemonic.Prefetchnta: case Mnemonic.Prefetcht0: case Mnemonic.Prefetcht1:
            case Mnemonic.Prefetcht2: case Mnemonic.Prefetchw: case Mnemonic.Endbr64: case Mnemonic.Endbr32:
            case Mnemonic.Clflush: case Mnemonic.Clflushopt: case Mnemonic.Clwb:
                break;
            case Mnemonic.Ud0: case Mnemonic.Ud1: case Mnemonic.Ud2: throw Ud();
            case Mnemonic.INVALID: throw Ud();
            case Mnemonic.Cpuid: ExecuteCpuid(); break;
            case Mnemonic.Rdtsc: ExecuteRdtsc(withAux: false); break;
            case Mnemonic.Rdtscp: ExecuteRdtsc(withAux: true); break;
            case Mnemonic.Rdpid: WriteRegister(instruction.Op0Register, TscAux); break;
            case Mnemonic.Rdmsr: ExecuteRdmsr(); break;
            case Mnemonic.Wrmsr: ExecuteWrmsr(); break;
            case Mnemonic.Hlt: ExecuteHlt(); break;
            case Mnemonic.Lgdt: case Mnemonic.Lidt: ExecuteLoadDescriptorTable(ref instruction); break;
            case Mnemonic.Sgdt: case Mnemonic.Sidt: ExecuteStoreDescriptorTable(ref instruction); break;
            case Mnemonic.Lldt: ExecuteLldt(ref instruction); break;
            case Mnemonic.Ltr: ExecuteLtr(ref instruction); break;
            case Mnemonic.Sldt: ExecuteStoreSystemSelector(ref instruction, SegmentIndex.Ldtr); break;
            case Mnemonic.Str: ExecuteStoreSystemSelector(ref instruction, SegmentIndex.Tr); break;
            case Mnemonic.Lsl: case Mnemonic.Lar: ExecuteLarLsl(ref instruction); break;
            case Mnemonic.Verr: case Mnemonic.Verw: ExecuteVerify(ref instruction); break;
            case Mnemonic.Smsw: ExecuteSmsw(ref instruction); break;
            case Mnemonic.Lmsw: ExecuteLmsw(ref instruction); break;
            case Mnemonic.Invlpg: ExecuteInvlpg(ref instruction); break;
            case Mnemonic.Invpcid: ExecuteInvpcid(ref instruction); break;
            case Mnemonic.Clts: RequireCpl0(); Cr0 &= ~X86.Cr0Ts; break;
            case Mnemonic.Wbinvd: case Mnemonic.Invd: case Mnemonic.Wbnoinvd: RequireCpl0(); break;
            case Mnemonic.Swapgs: ExecuteSwapgs(); break;
            case Mnemonic.Rdfsbase: case Mnemonic.Rdgsbase: case Mnemonic.Wrfsbase: case Mnemonic.Wrgsbase:
                ExecuteFsGsBase(ref instruction);
                break;
            case Mnemonic.Xgetbv: ExecuteXgetbv(); break;
            case Mnemonic.Xsetbv: ExecuteXsetbv(); break;
            case Mnemonic.Lds: case Mnemonic.Les: case Mnemonic.Lfs: case Mnemonic.Lgs: case Mnemonic.Lss:
                ExecuteLoadFarPointer(ref instruction);
                break;
            case Mnemonic.Stac: RequireCpl0(); Rflags |= X86.FlagAlignmentCheck; break;
            case Mnemonic.Clac: RequireCpl0(); Rflags &= ~X86.FlagAlignmentCheck; break;
            case Mnemonic.Rdrand: case Mnemonic.Rdseed:
                WriteRegister(instruction.Op0Register, (ulong)Random.Shared.NextInt64());
                SetArithmeticFlags(X86.FlagCarry);
                break;
            case Mnemonic.Monitor: case Mnemonic.Mwait: RequireCpl0(); break;
            case Mnemonic.Bound: ExecuteBound(ref instruction); break;
            case Mnemonic.Arpl: ExecuteArpl(ref instruction); break;
            case Mnemonic.Salc:
                WriteRegister(Register.AL, CarryFlag ? 0xFFUL : 0);
                break;

            default:
                ExecuteFloatingPointOrFail(ref instruction);
                break;
        }
    }

    private void RequireCpl0()
    {
        if (_cpl != 0) throw Gp0();
    }

    private void ExecuteMov(ref Instruction instruction)
    {
        OpKind destinationKind = instruction.Op0Kind;
        if (destinationKind == OpKind.Register)
        {
            Register destination = instruction.Op0Register;
            if (s_gprIndex[(int)destination] >= 0)
            {
                if (instruction.Op1Kind == OpKind.Register && instruction.Op1Register.IsCR())
                {
                    ExecuteMovFromControlRegister(destination, instruction.Op1Register);
                    return;
                }
                if (instruction.Op1Kind == OpKind.Register && instruction.Op1Register.IsDR())
                {
                    ExecuteMovFromDebugRegister(destination, instruction.Op1Register);
                    return;
                }
                int size = s_gprSize[(int)destination];
                WriteRegister(destination, ReadOperand(ref instruction, 1, size));
                return;
            }
            if (destination.IsSegmentRegister())
            {
                ulong selector = ReadOperand(ref instruction, 1, 2);
                LoadSegmentRegister((SegmentIndex)(destination - Register.ES), (ushort)selector);
                return;
            }
            if (destination.IsCR())
            {
                ExecuteMovToControlRegister(destination, ReadRegister(instruction.Op1Register));
                return;
            }
            if (destination.IsDR())
            {
                ExecuteMovToDebugRegister(destination, ReadRegister(instruction.Op1Register));
                return;
            }
            throw new UnsupportedInstructionException($"MOV to {destination}");
        }
        // Memory destination.
        int width = OperandSize(ref instruction, 0);
        ulong value = instruction.Op1Kind == OpKind.Register && instruction.Op1Register.IsSegmentRegister()
            ? Segments[instruction.Op1Register - Register.ES].Selector
            : ReadOperand(ref instruction, 1, width);
        WriteMemory(MemorySegment(ref instruction), EffectiveAddress(ref instruction), width, value);
    }
}
