using KvmSharp.Abi;
using KvmSharp.Soft.Cpu;
using KvmSharp.Soft.Model;

namespace KvmSharp.Soft.Vcpu;

// KVM_GET/SET_REGS and KVM_GET/SET_SREGS, with KVM's consistency checks.
internal sealed unsafe partial class SoftVcpu
{
    private const ulong EferSce = 1 << 0, EferLme = 1 << 8, EferLma = 1 << 10, EferNxe = 1 << 11;
    private const ulong Cr0Pe = 1, Cr0Nw = 1 << 29, Cr0Cd = 1 << 30, Cr0Pg = 1UL << 31;
    private const ulong Cr4Pae = 1 << 5;

    /// <summary>CR4 bits Soft's CPU honours: VME..OSXMMEXCPT (bits 0–10) and FSGSBASE-free, as advertised.</summary>
    private const ulong Cr4Supported = 0x7ff;

    /// <summary>The state KVM gives a new vCPU (the architectural reset state, CR0 with ET, CD and NW).</summary>
    private void ResetToKvmState()
    {
        Cpu.Reset();
        Cpu.Cr0 = 0x60000010;
        Cpu.Rdx = 0x600;
        Cpu.NotifyStateChanged();
    }

    private KvmRegs GetRegs()
    {
        ref GeneralRegisters g = ref Cpu.Gpr;
        return new KvmRegs
        {
            Rax = g[0], Rcx = g[1], Rdx = g[2], Rbx = g[3], Rsp = g[4], Rbp = g[5], Rsi = g[6], Rdi = g[7],
            R8 = g[8], R9 = g[9], R10 = g[10], R11 = g[11], R12 = g[12], R13 = g[13], R14 = g[14], R15 = g[15],
            Rip = Cpu.Rip,
            Rflags = Cpu.Rflags,
        };
    }

    private int SetRegs(in KvmRegs regs)
    {
        ref GeneralRegisters g = ref Cpu.Gpr;
        g[0] = regs.Rax; g[1] = regs.Rcx; g[2] = regs.Rdx; g[3] = regs.Rbx;
        g[4] = regs.Rsp; g[5] = regs.Rbp; g[6] = regs.Rsi; g[7] = regs.Rdi;
        g[8] = regs.R8; g[9] = regs.R9; g[10] = regs.R10; g[11] = regs.R11;
        g[12] = regs.R12; g[13] = regs.R13; g[14] = regs.R14; g[15] = regs.R15;
        Cpu.Rip = regs.Rip;
        // KVM forces the always-one flag and drops an exception it had queued.
        Cpu.Rflags = regs.Rflags | X86.FlagReserved1;
        Cpu.PendingExceptionVector = -1;
        Cpu.NotifyStateChanged();
        return 0;
    }

    private static KvmSegment ToKvm(in SegmentCache s) => new()
    {
        Base = s.Base,
        Limit = s.Limit,
        Selector = s.Selector,
        Type = s.Type,
        Present = s.Present ? (byte)1 : (byte)0,
        Dpl = s.Dpl,
        Db = s.Db ? (byte)1 : (byte)0,
        S = s.S ? (byte)1 : (byte)0,
        L = s.L ? (byte)1 : (byte)0,
        G = s.G ? (byte)1 : (byte)0,
        Avl = s.Avl ? (byte)1 : (byte)0,
        Unusable = s.Unusable ? (byte)1 : (byte)0,
    };

    private static SegmentCache FromKvm(in KvmSegment s) => new()
    {
        Base = s.Base,
        Limit = s.Limit,
        Selector = s.Selector,
        Type = (byte)(s.Type & 0xf),
        Present = s.Present != 0,
        Dpl = (byte)(s.Dpl & 3),
        Db = s.Db != 0,
        S = s.S != 0,
        L = s.L != 0,
        G = s.G != 0,
        Avl = s.Avl != 0,
        Unusable = s.Unusable != 0,
    };

    private KvmSregs GetSregs()
    {
        var sregs = new KvmSregs
        {
            Cs = ToKvm(Cpu.Cs), Ds = ToKvm(Cpu.Ds), Es = ToKvm(Cpu.Es), Fs = ToKvm(Cpu.Fs), Gs = ToKvm(Cpu.Gs), Ss = ToKvm(Cpu.Ss),
            Tr = ToKvm(Cpu.Tr), Ldt = ToKvm(Cpu.Ldtr),
            Gdt = new KvmDtable { Base = Cpu.Gdtr.Base, Limit = Cpu.Gdtr.Limit },
            Idt = new KvmDtable { Base = Cpu.Idtr.Base, Limit = Cpu.Idtr.Limit },
            Cr0 = Cpu.Cr0, Cr2 = Cpu.Cr2, Cr3 = Cpu.Cr3, Cr4 = Cpu.Cr4, Cr8 = Cpu.Cr8,
            Efer = Cpu.Efer,
            ApicBase = Apic?.BaseMsr ?? Cpu.ApicBase,
        };
        // An external interrupt queued but not yet delivered shows in the bitmap.
        if (Cpu.PendingInterruptVector >= 0)
            sregs.InterruptBitmap[Cpu.PendingInterruptVector >> 6] |= 1UL << (Cpu.PendingInterruptVector & 63);
        return sregs;
    }

    private bool IsValidCr0(ulong cr0) =>
        (cr0 >> 32) == 0
        && !((cr0 & Cr0Nw) != 0 && (cr0 & Cr0Cd) == 0)
        && !((cr0 & Cr0Pg) != 0 && (cr0 & Cr0Pe) == 0);

    private static bool IsValidCr4(ulong cr4) => (cr4 & ~Cr4Supported) == 0;

    private bool IsValidEfer(ulong efer)
    {
        ulong allowed = EferSce | EferLme | EferLma | EferNxe;
        return (efer & ~allowed) == 0;
    }

    private static bool IsLegalGpa(ulong address) => (address >> CpuModel.MaxPhysicalAddressBits) == 0;

    /// <summary>KVM's kvm_is_valid_sregs plus its CR0, CR4 and EFER checks.</summary>
    private bool IsValidSregs(in KvmSregs sregs)
    {
        if ((sregs.Efer & EferLme) != 0 && (sregs.Cr0 & Cr0Pg) != 0)
        {
            // Paging with LME on is long mode: PAE and LMA must be set, CR3 a legal address.
            if ((sregs.Cr4 & Cr4Pae) == 0 || (sregs.Efer & EferLma) == 0)
                return false;
            if (!IsLegalGpa(sregs.Cr3))
                return false;
        }
        else if ((sregs.Efer & EferLma) != 0 || sregs.Cs.L != 0)
        {
            return false;
        }
        return IsValidCr4(sregs.Cr4) && IsValidCr0(sregs.Cr0) && IsValidEfer(sregs.Efer);
    }

    private int SetSregs(in KvmSregs sregs)
    {
        if (!IsValidSregs(sregs))
            return -(int)Errno.EINVAL;
        Cpu.Cs = FromKvm(sregs.Cs);
        Cpu.Ds = FromKvm(sregs.Ds);
        Cpu.Es = FromKvm(sregs.Es);
        Cpu.Fs = FromKvm(sregs.Fs);
        Cpu.Gs = FromKvm(sregs.Gs);
        Cpu.Ss = FromKvm(sregs.Ss);
        Cpu.Tr = FromKvm(sregs.Tr);
        Cpu.Ldtr = FromKvm(sregs.Ldt);
        Cpu.Gdtr = new DescriptorTable { Base = sregs.Gdt.Base, Limit = sregs.Gdt.Limit };
        Cpu.Idtr = new DescriptorTable { Base = sregs.Idt.Base, Limit = sregs.Idt.Limit };
        Cpu.Cr0 = sregs.Cr0;
        Cpu.Cr2 = sregs.Cr2;
        Cpu.Cr3 = sregs.Cr3;
        Cpu.Cr4 = sregs.Cr4;
        Cpu.Cr8 = sregs.Cr8 & 0xf;
        Cpu.Efer = sregs.Efer;
        Cpu.ApicBase = sregs.ApicBase;
        if (Apic is { } apic)
            apic.BaseMsr = sregs.ApicBase;
        // The first set bit, if any, becomes the pending external interrupt.
        Cpu.PendingInterruptVector = -1;
        for (int word = 0; word < KvmConstants.KVM_NR_INTERRUPTS / 64; word++)
        {
            ulong bits = sregs.InterruptBitmap[word];
            if (bits != 0)
            {
                Cpu.PendingInterruptVector = word * 64 + global::System.Numerics.BitOperations.TrailingZeroCount(bits);
                break;
            }
        }
        Cpu.NotifyStateChanged();
        Cpu.InvalidateCodeCache();
        return 0;
    }
}
