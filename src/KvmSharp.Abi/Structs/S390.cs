using System.Runtime.InteropServices;

namespace KvmSharp.Abi;

// s390 ioctl arguments. linux/kvm.h defines them for every architecture;
// KvmSharp only needs their sizes (for the request numbers) and keeps the
// fields that are cheap to mirror.

/// <summary>struct kvm_s390_ucas_mapping (KVM_S390_UCAS_MAP/UNMAP).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct KvmS390UcasMapping
{
    public ulong UserAddr;
    public ulong VcpuAddr;
    public ulong Length;
}

/// <summary>struct kvm_s390_psw (KVM_S390_SET_INITIAL_PSW).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct KvmS390Psw
{
    public ulong Mask;
    public ulong Addr;
}

/// <summary>struct kvm_s390_interrupt (KVM_S390_INTERRUPT).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct KvmS390Interrupt
{
    public uint Type;
    public uint Parm;
    public ulong Parm64;
}

/// <summary>struct kvm_s390_irq (KVM_S390_IRQ): <see cref="Type"/> selects the union member.</summary>
[StructLayout(LayoutKind.Explicit, Size = 72)]
public unsafe struct KvmS390Irq
{
    [FieldOffset(0)] public ulong Type;
    [CName("u.io")]
    [FieldOffset(8)] public KvmS390IoInfo Io;
    [CName("u.ext")]
    [FieldOffset(8)] public KvmS390ExtInfo Ext;
    [CName("u.pgm")]
    [FieldOffset(8)] public KvmS390PgmInfo Pgm;
    [CName("u.emerg")]
    [FieldOffset(8)] public KvmS390EmergInfo Emerg;
    [CName("u.extcall")]
    [FieldOffset(8)] public KvmS390ExtcallInfo Extcall;
    [CName("u.prefix")]
    [FieldOffset(8)] public KvmS390PrefixInfo Prefix;
    [CName("u.stop")]
    [FieldOffset(8)] public KvmS390StopInfo Stop;
    [CName("u.mchk")]
    [FieldOffset(8)] public KvmS390MchkInfo Mchk;
    [CName("u.reserved")]
    [FieldOffset(8)] public fixed byte Reserved[64];
}

[StructLayout(LayoutKind.Sequential)]
public struct KvmS390IoInfo
{
    public ushort SubchannelId;
    public ushort SubchannelNr;
    public uint IoIntParm;
    public uint IoIntWord;
}

[StructLayout(LayoutKind.Sequential)]
public struct KvmS390ExtInfo
{
    public uint ExtParams;
    public uint Pad;
    public ulong ExtParams2;
}

[StructLayout(LayoutKind.Sequential)]
public unsafe struct KvmS390PgmInfo
{
    public ulong TransExcCode;
    public ulong MonCode;
    public ulong PerAddress;
    public uint DataExcCode;
    public ushort Code;
    public ushort MonClassNr;
    public byte PerCode;
    public byte PerAtmid;
    public byte ExcAccessId;
    public byte PerAccessId;
    public byte OpAccessId;
    public byte Flags;
    public fixed byte Pad[2];
}

[StructLayout(LayoutKind.Sequential)]
public struct KvmS390EmergInfo
{
    public ushort Code;
}

[StructLayout(LayoutKind.Sequential)]
public struct KvmS390ExtcallInfo
{
    public ushort Code;
}

[StructLayout(LayoutKind.Sequential)]
public struct KvmS390PrefixInfo
{
    public uint Address;
}

[StructLayout(LayoutKind.Sequential)]
public struct KvmS390StopInfo
{
    public uint Flags;
}

[StructLayout(LayoutKind.Sequential)]
public unsafe struct KvmS390MchkInfo
{
    public ulong Cr14;
    public ulong Mcic;
    public ulong FailingStorageAddress;
    public uint ExtDamageCode;
    public uint Pad;
    public fixed byte FixedLogout[16];
}

/// <summary>struct kvm_s390_irq_state (KVM_S390_SET/GET_IRQ_STATE).</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct KvmS390IrqState
{
    public ulong Buf;
    public uint Flags;
    public uint Len;
    public fixed uint Reserved[4];
}

/// <summary>struct kvm_s390_mem_op (KVM_S390_MEM_OP).</summary>
[StructLayout(LayoutKind.Explicit, Size = 64)]
public unsafe struct KvmS390MemOp
{
    [FieldOffset(0)] public ulong Gaddr;
    [FieldOffset(8)] public ulong Flags;
    [FieldOffset(16)] public uint Size;
    [FieldOffset(20)] public uint Op;
    [FieldOffset(24)] public ulong Buf;
    [FieldOffset(32)] public byte Ar;
    [FieldOffset(33)] public byte Key;
    [FieldOffset(32)] public uint SidaOffset;
    [FieldOffset(32)] public fixed byte Reserved[32];
}

/// <summary>struct kvm_s390_skeys (KVM_S390_GET/SET_SKEYS).</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct KvmS390Skeys
{
    public ulong StartGfn;
    public ulong Count;
    public ulong SkeydataAddr;
    public uint Flags;
    public fixed uint Reserved[9];
}

/// <summary>struct kvm_s390_cmma_log (KVM_S390_GET/SET_CMMA_BITS).</summary>
[StructLayout(LayoutKind.Explicit, Size = 32)]
public struct KvmS390CmmaLog
{
    [FieldOffset(0)] public ulong StartGfn;
    [FieldOffset(8)] public uint Count;
    [FieldOffset(12)] public uint Flags;
    [FieldOffset(16)] public ulong Remaining;
    [FieldOffset(16)] public ulong Mask;
    [FieldOffset(24)] public ulong Values;
}

/// <summary>struct kvm_pv_cmd (KVM_S390_PV_COMMAND, KVM_S390_PV_CPU_COMMAND).</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct KvmPvCmd
{
    public uint Cmd;
    public ushort Rc;
    public ushort Rrc;
    public ulong Data;
    public uint Flags;
    public fixed uint Reserved[3];
}

/// <summary>struct kvm_s390_zpci_op (KVM_S390_ZPCI_OP).</summary>
[StructLayout(LayoutKind.Explicit, Size = 72)]
public unsafe struct KvmS390ZpciOp
{
    [FieldOffset(0)] public uint Fh;
    [FieldOffset(4)] public byte Op;
    [FieldOffset(5)] public fixed byte Pad[3];
    [CName("u.reg_aen")]
    [FieldOffset(8)] public KvmS390ZpciOpRegAen RegAen;
    [CName("u.reserved")]
    [FieldOffset(8)] public fixed ulong Reserved[8];
}

[CUnnamed]
[StructLayout(LayoutKind.Sequential)]
public struct KvmS390ZpciOpRegAen
{
    public ulong Ibv;
    public ulong Sb;
    public uint Flags;
    public uint Noi;
    public byte Isc;
    public byte Sbo;
    public ushort Pad;
}

// Protected-virtualization command data (KVM_S390_PV_COMMAND's kvm_pv_cmd.data).

[StructLayout(LayoutKind.Sequential)]
public struct KvmS390PvSecParm
{
    public ulong Origin;
    public ulong Length;
}

[StructLayout(LayoutKind.Sequential)]
public struct KvmS390PvUnp
{
    public ulong Addr;
    public ulong Size;
    public ulong Tweak;
}

[StructLayout(LayoutKind.Sequential)]
public unsafe struct KvmS390PvDmp
{
    public ulong Subcmd;
    public ulong BuffAddr;
    public ulong BuffLen;
    public ulong Gaddr;
    public fixed ulong Reserved[4];
}

[StructLayout(LayoutKind.Sequential)]
public struct KvmS390PvInfoHeader
{
    public uint Id;
    public uint LenMax;
    public uint LenWritten;
    public uint Reserved;
}

[StructLayout(LayoutKind.Sequential)]
public struct KvmS390PvInfoDump
{
    public ulong DumpCpuBufferLen;
    [CName("dump_config_mem_buffer_per_1m")] public ulong DumpConfigMemBufferPer1M;
    public ulong DumpConfigFinalizeLen;
}

[StructLayout(LayoutKind.Sequential)]
public unsafe struct KvmS390PvInfoVm
{
    public fixed ulong InstCallsList[4];
    public ulong MaxCpus;
    public ulong MaxGuests;
    public ulong MaxGuestAddr;
    public ulong FeatureIndication;
}

[StructLayout(LayoutKind.Explicit, Size = 80)]
public struct KvmS390PvInfo
{
    [FieldOffset(0)] public KvmS390PvInfoHeader Header;
    [FieldOffset(16)] public KvmS390PvInfoDump Dump;
    [FieldOffset(16)] public KvmS390PvInfoVm Vm;
}
