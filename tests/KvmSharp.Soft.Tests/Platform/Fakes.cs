using System.Runtime.InteropServices;
using KvmSharp.Soft.Platform;

namespace KvmSharp.Soft.Tests.Platform;

/// <summary>Records what a local APIC asks of its vCPU.</summary>
public sealed class RecordingVcpu : IVcpuSink
{
    public int Signals;
    public int Nmis;
    public int Smis;
    public int Inits;
    public List<byte> Sipis { get; } = [];

    public void SignalInterrupt() => Interlocked.Increment(ref Signals);

    public void DeliverNmi() => Interlocked.Increment(ref Nmis);

    public void DeliverSmi() => Interlocked.Increment(ref Smis);

    public void DeliverInit() => Interlocked.Increment(ref Inits);

    public void DeliverSipi(byte vector)
    {
        lock (Sipis)
            Sipis.Add(vector);
    }
}

/// <summary>A TSC running at a fixed rate from platform time zero.</summary>
public sealed class FixedRateTsc(IPlatformClock clock, uint khz) : IGuestTsc
{
    public uint TscKhz => khz;

    public ulong TscAt(long nanoseconds) => (ulong)((Int128)nanoseconds * khz / 1_000_000);

    public ulong Now => TscAt(clock.Nanoseconds);
}

public static class Bytes
{
    public static byte[] Of<T>(in T value) where T : unmanaged =>
        MemoryMarshal.AsBytes(new ReadOnlySpan<T>(in value)).ToArray();
}
