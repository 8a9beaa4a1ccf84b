using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace KvmSharp.Abi;

/// <summary>struct kvm_pit_channel_state: one 8254 counter.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct KvmPitChannelState
{
    public uint Count;
    public ushort LatchedCount;
    public byte CountLatched;
    public byte StatusLatched;
    public byte Status;
    public byte ReadState;
    public byte WriteState;
    public byte WriteLatch;
    public byte RwMode;
    public byte Mode;
    public byte Bcd;
    public byte Gate;
    public long CountLoadTime;
}

[InlineArray(3)]
public struct KvmPitChannels
{
    private KvmPitChannelState _first;
}

/// <summary>struct kvm_pit_state (KVM_GET/SET_PIT).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct KvmPitState
{
    public KvmPitChannels Channels;
}

/// <summary>struct kvm_pit_state2 (KVM_GET/SET_PIT2).</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct KvmPitState2
{
    public KvmPitChannels Channels;
    public uint Flags;
    public fixed uint Reserved[9];
}

/// <summary>struct kvm_pit_config (KVM_CREATE_PIT2).</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct KvmPitConfig
{
    public uint Flags;
    public fixed uint Pad[15];
}

/// <summary>struct kvm_clock_data (KVM_GET/SET_CLOCK).</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct KvmClockData
{
    public ulong Clock;
    public uint Flags;
    public uint Pad0;
    public ulong Realtime;
    public ulong HostTsc;
    public fixed uint Pad[4];
}
