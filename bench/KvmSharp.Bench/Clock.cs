using System.Diagnostics;

namespace KvmSharp.Bench;

/// <summary>
/// The monotonic clock. On Linux Stopwatch reads clock_gettime(CLOCK_MONOTONIC),
/// the clock the C peer uses, at nanosecond resolution.
/// </summary>
internal static class Clock
{
    private static readonly double NanosecondsPerTick = 1e9 / Stopwatch.Frequency;

    public static long Now() => Stopwatch.GetTimestamp();

    public static double Nanoseconds(long from, long to) => (to - from) * NanosecondsPerTick;

    public static double Microseconds(long from, long to) => Nanoseconds(from, to) / 1e3;
}
