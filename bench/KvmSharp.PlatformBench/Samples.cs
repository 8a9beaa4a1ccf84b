namespace KvmSharp.PlatformBench;

/// <summary>Measured values of one workload, and their order statistics.</summary>
public sealed class Samples(double[] values)
{
    /// <summary>Samples taken and dropped first, so JIT and first-touch costs stay out.</summary>
    public const int WarmUp = 20;

    private readonly double[] _sorted = values.Order().ToArray();

    public int Count => _sorted.Length;
    public double Median => Percentile(50);
    public double Best => _sorted[0];

    public Samples Scaled(double factor) => new(_sorted.Select(v => v * factor).ToArray());

    public double Percentile(double percent) => _sorted[Math.Min(_sorted.Length - 1, (int)(percent / 100 * _sorted.Length))];
}
