using System.Runtime.InteropServices;

namespace KvmSharp.Abi;

// The binary statistics read from the fd KVM_GET_STATS_FD returns.

/// <summary>struct kvm_stats_header: at offset 0 of the stats fd; says where the id, descriptors and data are.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct KvmStatsHeader
{
    public uint Flags;
    public uint NameSize;
    public uint NumDesc;
    public uint IdOffset;
    public uint DescOffset;
    public uint DataOffset;
}

/// <summary>struct kvm_stats_desc: one statistic's descriptor; its name (NameSize bytes) follows.</summary>
[CTrailingArray("name", typeof(byte))]
[StructLayout(LayoutKind.Sequential)]
public struct KvmStatsDesc
{
    public uint Flags;
    public short Exponent;
    public ushort Size;
    public uint Offset;
    public uint BucketSize;
}
