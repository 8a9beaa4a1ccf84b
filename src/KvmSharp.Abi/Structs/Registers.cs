using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace KvmSharp.Abi;

/// <summary>struct kvm_regs: the general-purpose registers (KVM_GET_REGS / KVM_SET_REGS).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct KvmRegs
{
    public ulong Rax, Rbx, Rcx, Rdx;
    public ulong Rsi, Rdi, Rsp, Rbp;
    public ulong R8, R9, R10, R11;
    public ulong R12, R13, R14, R15;
    public ulong Rip, Rflags;
}

/// <summary>struct kvm_segment: a segment register with its hidden descriptor cache.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct KvmSegment
{
    public ulong Base;
    public uint Limit;
    public ushort Selector;
    public byte Type;
    public byte Present, Dpl, Db, S, L, G, Avl;
    public byte Unusable;
    public byte Padding;
}

/// <summary>struct kvm_dtable: a descriptor-table register (GDTR, IDTR).</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct KvmDtable
{
    public ulong Base;
    public ushort Limit;
    public fixed ushort Padding[3];
}

/// <summary>struct kvm_sregs: segment, control and descriptor-table registers.</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct KvmSregs
{
    public KvmSegment Cs, Ds, Es, Fs, Gs, Ss;
    public KvmSegment Tr;
    [CName("ldt")] public KvmSegment Ldt;
    public KvmDtable Gdt, Idt;
    public ulong Cr0, Cr2, Cr3, Cr4, Cr8;
    public ulong Efer;
    public ulong ApicBase;
    /// <summary>KVM_NR_INTERRUPTS (256) bits: pending external interrupts.</summary>
    public fixed ulong InterruptBitmap[KvmConstants.KVM_NR_INTERRUPTS / 64];
}

/// <summary>struct kvm_fpu: x87 and SSE state in FXSAVE-like form.</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct KvmFpu
{
    /// <summary>fpr[8][16]: the eight x87 registers, 16 bytes each.</summary>
    public fixed byte Fpr[8 * 16];
    public ushort Fcw;
    public ushort Fsw;
    public byte Ftwx;
    public byte Pad1;
    public ushort LastOpcode;
    public ulong LastIp;
    public ulong LastDp;
    /// <summary>xmm[16][16]: XMM0–XMM15.</summary>
    public fixed byte Xmm[16 * 16];
    public uint Mxcsr;
    public uint Pad2;
}

/// <summary>struct kvm_debugregs (KVM_GET/SET_DEBUGREGS).</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct KvmDebugregs
{
    public fixed ulong Db[4];
    public ulong Dr6;
    public ulong Dr7;
    public ulong Flags;
    public fixed ulong Reserved[9];
}

/// <summary>struct kvm_xsave: the legacy 4 KiB XSAVE area (KVM_GET/SET_XSAVE).</summary>
[CTrailingArray("extra", typeof(uint))]
[StructLayout(LayoutKind.Sequential)]
public unsafe struct KvmXsave
{
    public fixed uint Region[1024];
}

/// <summary>struct kvm_xcr: one extended control register.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct KvmXcr
{
    public uint Xcr;
    public uint Reserved;
    public ulong Value;
}

[InlineArray(KvmConstants.KVM_MAX_XCRS)]
public struct KvmXcrArray
{
    private KvmXcr _first;
}

/// <summary>struct kvm_xcrs (KVM_GET/SET_XCRS).</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct KvmXcrs
{
    public uint NrXcrs;
    public uint Flags;
    public KvmXcrArray Xcrs;
    public fixed ulong Padding[16];
}

/// <summary>
/// struct kvm_sregs2 (KVM_GET/SET_SREGS2): kvm_sregs without the interrupt
/// bitmap (pending interrupts travel in kvm_vcpu_events instead), plus the
/// PAE page-directory pointers.
/// </summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct KvmSregs2
{
    public KvmSegment Cs, Ds, Es, Fs, Gs, Ss;
    public KvmSegment Tr, Ldt;
    public KvmDtable Gdt, Idt;
    public ulong Cr0, Cr2, Cr3, Cr4, Cr8;
    public ulong Efer;
    public ulong ApicBase;
    /// <summary>KVM_SREGS2_FLAGS_PDPTRS_VALID when <see cref="Pdptrs"/> holds the PDPTEs.</summary>
    public ulong Flags;
    public fixed ulong Pdptrs[4];
}
