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

/// <summary>struct kvm_s390_irq (KVM_S390_IRQ): the typed payload union is kept as its raw bytes.</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct KvmS390Irq
{
    public ulong Type;
    [CName("u.reserved")] public fixed byte Payload[64];
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
