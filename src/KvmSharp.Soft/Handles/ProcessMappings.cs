using System.Globalization;

namespace KvmSharp.Soft.Handles;

/// <summary>
/// This process's memory map as /proc/self/maps tells it, to find out whether
/// caller-supplied memory is really there before Soft reads or writes it: an
/// access to a hole or a protected page would kill the process, where KVM
/// would answer EFAULT.
/// </summary>
internal static class ProcessMappings
{
    /// <summary>The parts of [start, end) that are not mapped readable (and writable, if asked), as page-aligned ranges.</summary>
    public static List<(ulong Start, ulong End)> Inaccessible(ulong start, ulong end, bool needWrite)
    {
        var accessible = new List<(ulong, ulong)>();
        foreach (string line in File.ReadLines("/proc/self/maps"))
        {
            // "start-end perms offset dev inode path"
            int dash = line.IndexOf('-');
            int space = line.IndexOf(' ', dash + 1);
            if (dash < 0 || space < 0 || space + 3 > line.Length)
                continue;
            ulong from = ulong.Parse(line.AsSpan(0, dash), NumberStyles.HexNumber, CultureInfo.InvariantCulture);
            ulong to = ulong.Parse(line.AsSpan(dash + 1, space - dash - 1), NumberStyles.HexNumber, CultureInfo.InvariantCulture);
            bool readable = line[space + 1] == 'r', writable = line[space + 2] == 'w';
            if (to <= start || from >= end || !readable || (needWrite && !writable))
                continue;
            accessible.Add((Math.Max(from, start), Math.Min(to, end)));
        }
        accessible.Sort();
        var holes = new List<(ulong, ulong)>();
        ulong cursor = start;
        foreach (var (from, to) in accessible)
        {
            if (from > cursor)
                holes.Add((cursor, from));
            cursor = Math.Max(cursor, to);
        }
        if (cursor < end)
            holes.Add((cursor, end));
        return holes;
    }
}
