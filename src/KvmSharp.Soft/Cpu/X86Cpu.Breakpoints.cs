namespace KvmSharp.Soft.Cpu;

/// <summary>Data breakpoints (DR7 R/W = 01 write, 11 read/write) for the guest's own DR7 and for guest debugging.</summary>
public sealed unsafe partial class X86Cpu
{
    /// <summary>True while any data breakpoint is armed; watched pages then stay out of the TLB.</summary>
    private bool _dataWatchActive;
    private int _guestDataHits;
    private int _debuggerDataHits;

    /// <summary>Re-evaluates armed data breakpoints; flushes the TLB when that changes what is watched.</summary>
    private void RefreshDataBreakpoints()
    {
        bool active = AnyDataBreakpoint(Dr7) || (GuestDebug.Enabled && GuestDebug.UseHardwareBreakpoints && AnyDataBreakpoint(GuestDebug.Dr7));
        if (active || _dataWatchActive) FlushTlb();
        _dataWatchActive = active;
    }

    private static bool AnyDataBreakpoint(ulong dr7)
    {
        for (int n = 0; n < 4; n++)
        {
            bool enabled = ((dr7 >> (n * 2)) & 3) != 0;
            ulong type = (dr7 >> (16 + n * 4)) & 3;
            if (enabled && (type == 1 || type == 3)) return true;
        }
        return false;
    }

    private bool PageWatched(ulong linear)
    {
        ulong page = linear & ~0xFFFUL;
        return PageWatchedBy(Dr7, page, Dr0, Dr1, Dr2, Dr3) ||
            (GuestDebug.Enabled && GuestDebug.UseHardwareBreakpoints && PageWatchedBy(GuestDebug.Dr7, page, GuestDebug.Dr0, GuestDebug.Dr1, GuestDebug.Dr2, GuestDebug.Dr3));
    }

    private static bool PageWatchedBy(ulong dr7, ulong page, ulong dr0, ulong dr1, ulong dr2, ulong dr3)
    {
        for (int n = 0; n < 4; n++)
        {
            if (((dr7 >> (n * 2)) & 3) == 0) continue;
            ulong address = n switch { 0 => dr0, 1 => dr1, 2 => dr2, _ => dr3 };
            if ((address & ~0xFFFUL) == page || ((address + 7) & ~0xFFFUL) == page) return true;
        }
        return false;
    }

    private void CheckDataBreakpoints(ulong linear, int size, AccessKind kind)
    {
        _guestDataHits |= MatchData(Dr7, linear, size, kind, Dr0, Dr1, Dr2, Dr3);
        if (GuestDebug.Enabled && GuestDebug.UseHardwareBreakpoints)
            _debuggerDataHits |= MatchData(GuestDebug.Dr7, linear, size, kind, GuestDebug.Dr0, GuestDebug.Dr1, GuestDebug.Dr2, GuestDebug.Dr3);
    }

    private static int MatchData(ulong dr7, ulong linear, int size, AccessKind kind, ulong dr0, ulong dr1, ulong dr2, ulong dr3)
    {
        int hits = 0;
        for (int n = 0; n < 4; n++)
        {
            if (((dr7 >> (n * 2)) & 3) == 0) continue;
            ulong type = (dr7 >> (16 + n * 4)) & 3;
            if (type == 0 || type == 2) continue;
            if (type == 1 && kind != AccessKind.Write) continue;
            ulong length = ((dr7 >> (18 + n * 4)) & 3) switch { 0 => 1UL, 1 => 2UL, 3 => 4UL, _ => 8UL };
            ulong address = (n switch { 0 => dr0, 1 => dr1, 2 => dr2, _ => dr3 }) & ~(length - 1);
            if (linear < address + length && address < linear + (ulong)size) hits |= 1 << n;
        }
        return hits;
    }

    /// <summary>Data breakpoints are traps: reported after the instruction that touched the data retired.</summary>
    private void DeliverDataBreakpoints()
    {
        int guestHits = _guestDataHits, debuggerHits = _debuggerDataHits;
        _guestDataHits = 0;
        _debuggerDataHits = 0;
        if (debuggerHits != 0)
        {
            Exit.DebugDr6 = X86.Dr6Fixed | (ulong)debuggerHits;
            Exit.DebugException = X86.VectorDebug;
            Exit.DebugPc = LinearRip();
            SetExit(CpuExitReason.Debug);
            return;
        }
        if (guestHits != 0)
        {
            Dr6 = (Dr6 & ~0xFUL) | (uint)guestHits;
            DeliverException(X86.VectorDebug, 0, false, InterruptSourceKind.Exception);
        }
    }
}
