using System.Text;

namespace KvmSharp.Vmm.Tests.Guests;

/// <summary>
/// The default guest's picture computed in plain C#, independently of the guest
/// builder: its own copy of the constants and of the fixed-point iteration.
/// </summary>
internal static class MandelbrotReference
{
    private const int Columns = 64;
    private const int Rows = 24;
    private const int Fraction = 16;
    private const int Limit = 64;
    private const long Left = -140_902;
    private const long StepX = 2_867;
    private const long StepY = 6_554;
    private const long Top = -(Rows - 1) * StepY / 2;
    private const string Shades = "  ..::--==++**##%%";

    public static string Text()
    {
        var text = new StringBuilder();
        for (int row = 0; row < Rows; row++)
        {
            long ci = Top + row * StepY;
            for (int column = 0; column < Columns; column++)
            {
                long cr = Left + column * StepX;
                int steps = Escape(cr, ci);
                text.Append(steps == Limit ? '@' : Shades[Math.Min(steps, Shades.Length - 1)]);
            }
            text.Append('\n');
        }
        return text.ToString();
    }

    private static int Escape(long cr, long ci)
    {
        long zr = 0, zi = 0;
        for (int n = 0; n < Limit; n++)
        {
            long zr2 = (zr * zr) >> Fraction;
            long zi2 = (zi * zi) >> Fraction;
            if (zr2 + zi2 > 4L << Fraction)
                return n;
            zi = ((zr * zi) >> (Fraction - 1)) + ci;
            zr = zr2 - zi2 + cr;
        }
        return Limit;
    }
}
