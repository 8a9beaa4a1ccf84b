namespace KvmSharp.Soft.Tests.Cpu;

/// <summary>IEEE values as the bit patterns an XMM lane holds.</summary>
internal static class FloatBits
{
    /// <summary>Two binary32 values packed as one 64-bit lane, <paramref name="low"/> in bits 0-31.</summary>
    public static ulong Singles(float low, float high) =>
        BitConverter.SingleToUInt32Bits(low) | (ulong)BitConverter.SingleToUInt32Bits(high) << 32;

    public static ulong Bits(double value) => BitConverter.DoubleToUInt64Bits(value);
}
