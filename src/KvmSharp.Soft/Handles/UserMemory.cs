namespace KvmSharp.Soft.Handles;

/// <summary>
/// Checks a caller's pointer before Soft dereferences it, so that a bad
/// argument gives EFAULT, as copy_from_user does, instead of crashing the process.
/// </summary>
internal static unsafe class UserMemory
{
    private const long Page = 4096;

    public static bool IsAccessible(nint address, long length)
    {
        if (address == 0 || length < 0)
            return false;
        if (length == 0)
            return true;
        long start = address & ~(Page - 1);
        long end = ((long)address + length + Page - 1) & ~(Page - 1);
        if (end <= start)
            return false;
        long pages = (end - start) / Page;
        // mincore fails with ENOMEM when part of the range is not mapped.
        byte* vector = stackalloc byte[pages <= 64 ? (int)pages : 1];
        if (pages > 64)
        {
            var heap = new byte[pages];
            fixed (byte* v = heap)
                return Native.Mincore((nint)start, (nuint)(end - start), v) == 0;
        }
        return Native.Mincore((nint)start, (nuint)(end - start), vector) == 0;
    }
}
