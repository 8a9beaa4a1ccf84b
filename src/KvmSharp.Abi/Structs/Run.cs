using System.Runtime.InteropServices;

namespace KvmSharp.Abi;

/// <summary>
/// struct kvm_run: the block shared between the kernel and userspace for
/// KVM_RUN, mapped from the vCPU fd. The exit payloads overlay one another at
/// <see cref="PayloadOffset"/> as the C union does.
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = 2352)]
public unsafe struct KvmRun
{
    [CExpression("offsetof(struct kvm_run, hw)")]
    public const int PayloadOffset = 32;

    [FieldOffset(0)] public byte RequestInterruptWindow;
    [FieldOffset(1)] public byte ImmediateExit;
    [FieldOffset(2)] public fixed byte Padding1[6];
    [FieldOffset(8)] public KvmExitReason ExitReason;
    [FieldOffset(12)] public byte ReadyForInterruptInjection;
    [FieldOffset(13)] public byte IfFlag;
    [FieldOffset(14)] public ushort Flags;
    [FieldOffset(16)] public ulong Cr8;
    [FieldOffset(24)] public ulong ApicBase;

    [FieldOffset(32)] public KvmRunHw Hw;
    [FieldOffset(32)] public KvmRunFailEntry FailEntry;
    [FieldOffset(32)] public KvmRunEx Ex;
    [FieldOffset(32)] public KvmRunIo Io;
    [FieldOffset(32)] public KvmRunDebug Debug;
    [FieldOffset(32)] public KvmRunMmio Mmio;
    [FieldOffset(32)] public KvmRunHypercall Hypercall;
    [FieldOffset(32)] public KvmRunTprAccess TprAccess;
    [FieldOffset(32)] public KvmRunS390Sieic S390Sieic;
    [FieldOffset(32)] public ulong S390ResetFlags;
    [FieldOffset(32)] public KvmRunS390Ucontrol S390Ucontrol;
    [FieldOffset(32)] public KvmRunDcr Dcr;
    [FieldOffset(32)] public KvmRunInternal Internal;
    [FieldOffset(32)] public KvmRunEmulationFailure EmulationFailure;
    [FieldOffset(32)] public KvmRunOsi Osi;
    [FieldOffset(32)] public KvmRunPaprHcall PaprHcall;
    [FieldOffset(32)] public KvmRunS390Tsch S390Tsch;
    [FieldOffset(32)] public KvmRunEpr Epr;
    [FieldOffset(32)] public KvmRunSystemEvent SystemEvent;
    [FieldOffset(32)] public KvmRunS390Stsi S390Stsi;
    [FieldOffset(32)] public KvmRunEoi Eoi;
    [FieldOffset(32)] public KvmHypervExit Hyperv;
    [FieldOffset(32)] public KvmRunArmNisv ArmNisv;
    [FieldOffset(32)] public KvmRunMsr Msr;
    [FieldOffset(32)] public KvmXenExit Xen;
    [FieldOffset(32)] public KvmRunRiscvSbi RiscvSbi;
    [FieldOffset(32)] public KvmRunRiscvCsr RiscvCsr;
    [FieldOffset(32)] public KvmRunNotify Notify;
    [CName("padding")]
    [FieldOffset(32)] public fixed byte PayloadPadding[256];

    [FieldOffset(288)] public ulong KvmValidRegs;
    [FieldOffset(296)] public ulong KvmDirtyRegs;
    /// <summary>union s: the registers KVM_CAP_SYNC_REGS shares through the run block.</summary>
    [CName("s.regs")]
    [FieldOffset(304)] public KvmSyncRegs SyncRegs;
    /// <summary>union s reserves SYNC_REGS_SIZE_BYTES for struct kvm_sync_regs to grow into.</summary>
    [CName("s.padding")]
    [FieldOffset(304)] public fixed byte SyncRegsPadding[KvmConstants.SYNC_REGS_SIZE_BYTES];
}

[CUnnamed]
[StructLayout(LayoutKind.Sequential)]
public struct KvmRunHw
{
    public ulong HardwareExitReason;
}

[CUnnamed]
[StructLayout(LayoutKind.Sequential)]
public struct KvmRunFailEntry
{
    public ulong HardwareEntryFailureReason;
    public uint Cpu;
}

[CUnnamed]
[StructLayout(LayoutKind.Sequential)]
public struct KvmRunEx
{
    public uint Exception;
    public uint ErrorCode;
}

/// <summary>The io payload: the data is <see cref="Count"/> × <see cref="Size"/> bytes at <see cref="DataOffset"/> from the start of kvm_run.</summary>
[CUnnamed]
[StructLayout(LayoutKind.Sequential)]
public struct KvmRunIo
{
    /// <summary>KVM_EXIT_IO_IN (0) or KVM_EXIT_IO_OUT (1).</summary>
    public byte Direction;
    public byte Size;
    public ushort Port;
    public uint Count;
    public ulong DataOffset;
}

/// <summary>struct kvm_debug_exit_arch.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct KvmDebugExitArch
{
    public uint Exception;
    public uint Pad;
    public ulong Pc;
    public ulong Dr6;
    public ulong Dr7;
}

[CUnnamed]
[StructLayout(LayoutKind.Sequential)]
public struct KvmRunDebug
{
    public KvmDebugExitArch Arch;
}

[CUnnamed]
[StructLayout(LayoutKind.Sequential)]
public unsafe struct KvmRunMmio
{
    public ulong PhysAddr;
    public fixed byte Data[8];
    public uint Len;
    public byte IsWrite;
}

[CUnnamed]
[StructLayout(LayoutKind.Sequential)]
public unsafe struct KvmRunHypercall
{
    public ulong Nr;
    public fixed ulong Args[6];
    public ulong Ret;
    public uint Longmode;
    public uint Pad;
}

[CUnnamed]
[StructLayout(LayoutKind.Sequential)]
public struct KvmRunTprAccess
{
    public ulong Rip;
    public uint IsWrite;
    public uint Pad;
}

[CUnnamed]
[StructLayout(LayoutKind.Sequential)]
public unsafe struct KvmRunInternal
{
    public uint Suberror;
    public uint Ndata;
    public fixed ulong Data[16];
}

[CUnnamed]
[StructLayout(LayoutKind.Explicit)]
public unsafe struct KvmRunEmulationFailure
{
    [FieldOffset(0)] public uint Suberror;
    [FieldOffset(4)] public uint Ndata;
    [FieldOffset(8)] public ulong Flags;
    [FieldOffset(16)] public byte InsnSize;
    [FieldOffset(17)] public fixed byte InsnBytes[15];
}

[CUnnamed]
[StructLayout(LayoutKind.Explicit)]
public unsafe struct KvmRunSystemEvent
{
    [FieldOffset(0)] public uint Type;
    [FieldOffset(4)] public uint Ndata;
    [FieldOffset(8)] public ulong Flags;
    [FieldOffset(8)] public fixed ulong Data[16];
}

[CUnnamed]
[StructLayout(LayoutKind.Sequential)]
public struct KvmRunEoi
{
    public byte Vector;
}

[CUnnamed]
[StructLayout(LayoutKind.Sequential)]
public unsafe struct KvmRunMsr
{
    public byte Error;
    public fixed byte Pad[7];
    public uint Reason;
    public uint Index;
    public ulong Data;
}

[CUnnamed]
[StructLayout(LayoutKind.Sequential)]
public struct KvmRunNotify
{
    public uint Flags;
}

/// <summary>struct kvm_sync_regs (x86): the state KVM_CAP_SYNC_REGS exchanges in kvm_run.s.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct KvmSyncRegs
{
    public KvmRegs Regs;
    public KvmSregs Sregs;
    public KvmVcpuEvents Events;
}
