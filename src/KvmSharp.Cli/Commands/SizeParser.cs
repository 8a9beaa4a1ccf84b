using System.Globalization;

namespace KvmSharp.Cli.Commands;

/// <summary>Parses memory sizes such as 512M, 2G, 65536 or 64K (binary units).</summary>
public static class SizeParser
{
    public static bool TryParse(string text, out ulong bytes, out string? error)
    {
        bytes = 0;
        error = null;
        string trimmed = text.Trim();
        if (trimmed.Length == 0)
        {
            error = "a size cannot be empty";
            return false;
        }
        ulong multiplier = char.ToUpperInvariant(trimmed[^1]) switch
        {
            'K' => 1UL << 10,
            'M' => 1UL << 20,
            'G' => 1UL << 30,
            'T' => 1UL << 40,
            _ => 1,
        };
        string digits = multiplier == 1 ? trimmed : trimmed[..^1];
        if (digits.EndsWith("i", StringComparison.OrdinalIgnoreCase))
            digits = digits[..^1];
        if (!ulong.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out ulong value))
        {
            error = $"'{text}' is not a size (use a number with an optional K, M, G or T suffix)";
            return false;
        }
        if (value > ulong.MaxValue / multiplier)
        {
            error = $"'{text}' is too large";
            return false;
        }
        bytes = value * multiplier;
        return true;
    }
}
