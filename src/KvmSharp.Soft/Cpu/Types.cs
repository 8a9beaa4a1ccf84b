namespace KvmSharp.Soft.Cpu;

/// <summary>
/// How the CPU reaches guest-physical memory. The kernel implements it over its memory slots.
/// The CPU never touches host memory other than the pages this interface hands out.
/// </summary>
public unsafe interface IGuestMemory
{
    /// <summary>
    /// Returns the host address of the 4 KiB page holding guest-physical <paramref name="gpaPageAligned"/>,
    /// or null when that page is not RAM (MMIO) or, for <paramref name="write"/>, not writable RAM (read-only slot).
    /// A null turns the access into an MMIO exit. A non-null pointer for a write may be cached by the CPU's TLB
    /// until <see cref="X86Cpu.FlushTlb"/> is called (the kernel must call it when slots change or when it re-arms dirty logging).
    /// </summary>
    byte* GetHostPage(ulong gpaPageAligned, bool write);
}

/// <summary>Hidden descriptor cache of a segment register; the same fields as KVM's <c>struct kvm_segment</c>.</summary>
public struct SegmentCache
{
    public ulong Base;
    /// <summary>Byte-granular limit (already scaled by G), as KVM reports it.</summary>
    public uint Limit;
    public ushort Selector;
    public byte Type;
    public bool Present;
    public byte Dpl;
    /// <summary>Default operand size / big (D/B bit).</summary>
    public bool Db;
    /// <summary>Descriptor type: true for code/data, false for system segments.</summary>
    public bool S;
    /// <summary>64-bit code segment.</summary>
    public bool L;
    public bool G;
    public bool Avl;
    public bool Unusable;

    public readonly bool IsCode => S && (Type & 8) != 0;

    public static SegmentCache RealMode(ushort selector, byte type = 3) => new()
    {
        Selector = selector, Base = (ulong)selector << 4, Limit = 0xFFFF, Type = type, Present = true, S = true,
    };

    public override readonly string ToString() =>
        $"sel={Selector:x4} base={Base:x} limit={Limit:x} type={Type} p={(Present ? 1 : 0)} dpl={Dpl} db={(Db ? 1 : 0)} s={(S ? 1 : 0)} l={(L ? 1 : 0)} g={(G ? 1 : 0)} unusable={(Unusable ? 1 : 0)}";
}

/// <summary>Hardware encoding order of segment registers, followed by LDTR and TR.</summary>
public enum SegmentIndex
{
    ES = 0, CS = 1, SS = 2, DS = 3, FS = 4, GS = 5, Ldtr = 6, Tr = 7,
}

/// <summary>Descriptor table register (GDTR/IDTR).</summary>
public struct DescriptorTable
{
    public ulong Base;
    public ushort Limit;
}

/// <summary>One CPUID answer, as in KVM's <c>struct kvm_cpuid_entry2</c>.</summary>
public struct CpuidEntry
{
    public uint Function;
    public uint Index;
    /// <summary>When false, <see cref="Index"/> (ECX input) is ignored when matching.</summary>
    public bool IndexSignificant;
    public uint Eax, Ebx, Ecx, Edx;
}

public enum CpuExitReason
{
    None = 0,
    /// <summary>Port I/O; see <see cref="CpuExitInfo.IoPort"/> and friends and <see cref="X86Cpu.IoData"/>.</summary>
    Io,
    /// <summary>Memory access to a page that is not RAM; see <see cref="CpuExitInfo.MmioAddress"/>.</summary>
    Mmio,
    /// <summary>HLT executed; RIP is past the HLT.</summary>
    Hlt,
    /// <summary>Triple fault.</summary>
    Shutdown,
    /// <summary>The CPU cannot execute something; <see cref="CpuExitInfo.InternalError"/> says what.</summary>
    InternalError,
    /// <summary>Guest-debug event requested by the kernel (single step or hardware breakpoint).</summary>
    Debug,
    /// <summary>Another thread asked the CPU to stop (<see cref="X86Cpu.RequestStop"/>).</summary>
    Stopped,
    /// <summary>The kernel asked for an interrupt window and IF=1 with no interrupt shadow.</summary>
    InterruptWindowOpen,
    /// <summary>The instruction budget passed to <see cref="X86Cpu.Run"/> is used up.</summary>
    BudgetExhausted,
}

/// <summary>Details of the last exit. Fields not related to <see cref="Reason"/> are stale.</summary>
public struct CpuExitInfo
{
    public CpuExitReason Reason;

    public ushort IoPort;
    /// <summary>Bytes per element: 1, 2 or 4.</summary>
    public byte IoSize;
    public bool IoIsOut;
    /// <summary>Number of elements in <see cref="X86Cpu.IoData"/> (more than 1 for REP INS/OUTS).</summary>
    public uint IoCount;

    public ulong MmioAddress;
    /// <summary>1..8 bytes.</summary>
    public byte MmioSize;
    public bool MmioIsWrite;
    /// <summary>For writes: the data written (little endian). For reads: the kernel stores the result in <see cref="X86Cpu.MmioReadData"/>.</summary>
    public ulong MmioData;

    public string? InternalError;

    /// <summary>DR6-style status for <see cref="CpuExitReason.Debug"/>.</summary>
    public ulong DebugDr6;
    /// <summary>Exception vector of the debug event (1 for #DB, 3 for #BP).</summary>
    public byte DebugException;
    public ulong DebugPc;
}

/// <summary>Guest-debug settings the kernel passes from KVM_SET_GUEST_DEBUG.</summary>
public struct GuestDebugSettings
{
    public bool Enabled;
    public bool SingleStep;
    public bool UseHardwareBreakpoints;
    /// <summary>INT3 exits to the kernel instead of being delivered to the guest.</summary>
    public bool UseSoftwareBreakpoints;
    public ulong Dr0, Dr1, Dr2, Dr3, Dr7;
}
