using System.Runtime.InteropServices;

namespace KvmSharp.Abi;

// The kvm_run exit payloads of other architectures and of the Hyper-V and Xen
// exits, kept apart from Run.cs so that file stays the x86 core of KVM_RUN.

[CUnnamed]
[StructLayout(LayoutKind.Sequential)]
public struct KvmRunS390Sieic
{
    public byte Icptcode;
    public ushort Ipa;
    public uint Ipb;
}

[CUnnamed]
[StructLayout(LayoutKind.Sequential)]
public struct KvmRunS390Ucontrol
{
    public ulong TransExcCode;
    public uint PgmCode;
}

[CUnnamed]
[StructLayout(LayoutKind.Sequential)]
public struct KvmRunDcr
{
    public uint Dcrn;
    public uint Data;
    public byte IsWrite;
}

[CUnnamed]
[StructLayout(LayoutKind.Sequential)]
public unsafe struct KvmRunOsi
{
    public fixed ulong Gprs[32];
}

[CUnnamed]
[StructLayout(LayoutKind.Sequential)]
public unsafe struct KvmRunPaprHcall
{
    public ulong Nr;
    public ulong Ret;
    public fixed ulong Args[9];
}

[CUnnamed]
[StructLayout(LayoutKind.Sequential)]
public struct KvmRunS390Tsch
{
    public ushort SubchannelId;
    public ushort SubchannelNr;
    public uint IoIntParm;
    public uint IoIntWord;
    public uint Ipb;
    public byte Dequeued;
}

[CUnnamed]
[StructLayout(LayoutKind.Sequential)]
public struct KvmRunEpr
{
    public uint Epr;
}

[CUnnamed]
[StructLayout(LayoutKind.Sequential)]
public struct KvmRunS390Stsi
{
    public ulong Addr;
    public byte Ar;
    public byte Reserved;
    public byte Fc;
    public byte Sel1;
    public ushort Sel2;
}

[CUnnamed]
[StructLayout(LayoutKind.Sequential)]
public struct KvmRunArmNisv
{
    public ulong EsrIss;
    public ulong FaultIpa;
}

/// <summary>riscv_sbi: the C fields are unsigned long, 64 bits on the 64-bit ABI this mirrors.</summary>
[CUnnamed]
[StructLayout(LayoutKind.Sequential)]
public unsafe struct KvmRunRiscvSbi
{
    public ulong ExtensionId;
    public ulong FunctionId;
    public fixed ulong Args[6];
    public fixed ulong Ret[2];
}

[CUnnamed]
[StructLayout(LayoutKind.Sequential)]
public struct KvmRunRiscvCsr
{
    public ulong CsrNum;
    public ulong NewValue;
    public ulong WriteMask;
    public ulong RetValue;
}

/// <summary>struct kvm_hyperv_exit (KVM_EXIT_HYPERV): <see cref="Type"/> selects the union member.</summary>
[StructLayout(LayoutKind.Explicit, Size = 56)]
public struct KvmHypervExit
{
    [FieldOffset(0)] public uint Type;
    [FieldOffset(4)] public uint Pad1;
    [CName("u.synic")]
    [FieldOffset(8)] public KvmHypervExitSynic Synic;
    [CName("u.hcall")]
    [FieldOffset(8)] public KvmHypervExitHcall Hcall;
    [CName("u.syndbg")]
    [FieldOffset(8)] public KvmHypervExitSyndbg Syndbg;
}

[CUnnamed]
[StructLayout(LayoutKind.Sequential)]
public struct KvmHypervExitSynic
{
    public uint Msr;
    public uint Pad2;
    public ulong Control;
    public ulong EvtPage;
    public ulong MsgPage;
}

[CUnnamed]
[StructLayout(LayoutKind.Sequential)]
public unsafe struct KvmHypervExitHcall
{
    public ulong Input;
    public ulong Result;
    public fixed ulong Params[2];
}

[CUnnamed]
[StructLayout(LayoutKind.Sequential)]
public struct KvmHypervExitSyndbg
{
    public uint Msr;
    public uint Pad2;
    public ulong Control;
    public ulong Status;
    public ulong SendPage;
    public ulong RecvPage;
    public ulong PendingPage;
}

/// <summary>struct kvm_xen_exit (KVM_EXIT_XEN).</summary>
[StructLayout(LayoutKind.Explicit, Size = 80)]
public struct KvmXenExit
{
    [FieldOffset(0)] public uint Type;
    [CName("u.hcall")]
    [FieldOffset(8)] public KvmXenExitHcall Hcall;
}

[CUnnamed]
[StructLayout(LayoutKind.Sequential)]
public unsafe struct KvmXenExitHcall
{
    public uint Longmode;
    public uint Cpl;
    public ulong Input;
    public ulong Result;
    public fixed ulong Params[6];
}
