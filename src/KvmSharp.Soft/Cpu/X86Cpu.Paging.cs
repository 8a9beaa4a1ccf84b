using System.Runtime.CompilerServices;

namespace KvmSharp.Soft.Cpu;

/// <summary>What an access is for; decides the page-fault error code and permission checks.</summary>
internal enum AccessKind : byte
{
    Read = 0,
    Write = 1,
    Execute = 2,
}

public sealed unsafe partial class X86Cpu
{
    /// <summary>Width of guest-physical addresses; bits above it in paging entries are reserved.</summary>
    public int PhysicalAddressBits { get; set; } = 46;

    /// <summary>
    /// Entries per TLB (direct-mapped by linear page): 8 MiB of 4 KiB pages, so a guest's working set of a few MiB does
    /// not walk the page tables on every other access. Flushes cost nothing per entry (see <see cref="_tlbEpochTag"/>).
    /// </summary>
    private const int TlbSize = 2048;
    private const int TlbEpochShift = 46;
    /// <summary>Linear page-number bits a tag keeps: 45, enough for 5-level paging's 57-bit canonical addresses.</summary>
    private const ulong TlbPageBits = (1UL << 45) - 1;

    /// <summary>
    /// One 4 KiB translation. Host pointers are only cached when the access kind is allowed for the privilege class
    /// of the TLB holding it, so a hit needs no further permission checks.
    /// </summary>
    private struct TlbEntry
    {
        /// <summary>Linear page number + 1, with the flush epoch it was filled in above bit 46 (0 = invalid).</summary>
        public ulong Tag;
        public ulong PhysicalPage;
        public byte* ReadHost;
        public byte* WriteHost;
        public bool Executable;
        public bool Global;
    }

    private readonly TlbEntry[] _supervisorTlb = new TlbEntry[TlbSize];
    private readonly TlbEntry[] _userTlb = new TlbEntry[TlbSize];
    private bool _tlbHoldsLargePages;

    /// <summary>
    /// The current flush epoch, in a tag's top bits: a full flush moves to the next epoch, which makes every entry miss
    /// without touching it (the arrays are cleared only when the 18-bit epoch wraps).
    /// </summary>
    private ulong _tlbEpochTag = 1UL << TlbEpochShift;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ulong TlbTag(ulong linear) => (((linear >> 12) & TlbPageBits) + 1) | _tlbEpochTag;

    /// <summary>Drops every cached translation and host pointer (including global pages).</summary>
    public void FlushTlb()
    {
        _tlbEpochTag += 1UL << TlbEpochShift;
        if (_tlbEpochTag == 0)
        {
            Array.Clear(_supervisorTlb);
            Array.Clear(_userTlb);
            _tlbEpochTag = 1UL << TlbEpochShift;
        }
        _tlbHoldsLargePages = false;
        _translationGeneration++;
    }

    private void FlushTlbNonGlobal()
    {
        if ((Cr4 & X86.Cr4Pge) == 0)
        {
            FlushTlb();
            return;
        }
        FlushNonGlobal(_supervisorTlb);
        FlushNonGlobal(_userTlb);
        _translationGeneration++;

        static void FlushNonGlobal(TlbEntry[] tlb)
        {
            for (int i = 0; i < tlb.Length; i++)
                if (!tlb[i].Global) tlb[i] = default;
        }
    }

    private void InvalidatePage(ulong linear)
    {
        if (_tlbHoldsLargePages)
        {
            // A large page is cached as many 4 KiB fragments; dropping everything is always correct.
            FlushTlb();
            return;
        }
        ulong tag = TlbTag(linear);
        int index = (int)((linear >> 12) & (TlbSize - 1));
        if (_supervisorTlb[index].Tag == tag) _supervisorTlb[index] = default;
        if (_userTlb[index].Tag == tag) _userTlb[index] = default;
        _translationGeneration++;
    }

    /// <summary>Drops cached write pointers to a physical page, so writes to it take the slow path that watches code.</summary>
    private void RevokeWriteAccess(ulong physicalPage)
    {
        for (int i = 0; i < TlbSize; i++)
        {
            if (_supervisorTlb[i].PhysicalPage == physicalPage) _supervisorTlb[i].WriteHost = null;
            if (_userTlb[i].PhysicalPage == physicalPage) _userTlb[i].WriteHost = null;
        }
    }

    /// <summary>
    /// Translates a linear address for an access; raises #PF. Returns the host pointer of the byte when the page is RAM
    /// accessible for this kind, otherwise null with <paramref name="physical"/> set (MMIO, or a code page being written).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private byte* TranslateLinear(ulong linear, AccessKind kind, bool user, out ulong physical, int size = 1)
    {
        TlbEntry[] tlb = user ? _userTlb : _supervisorTlb;
        ref TlbEntry entry = ref tlb[(int)((linear >> 12) & (TlbSize - 1))];
        if (entry.Tag == TlbTag(linear))
        {
            byte* host = kind == AccessKind.Write ? entry.WriteHost : entry.ReadHost;
            if (host != null && (kind != AccessKind.Execute || entry.Executable))
            {
                physical = entry.PhysicalPage | (linear & 0xFFF);
                return host + (linear & 0xFFF);
            }
        }
        return TranslateSlow(linear, kind, user, out physical, size);
    }

    private byte* TranslateSlow(ulong linear, AccessKind kind, bool user, out ulong physical, int size)
    {
        ulong physicalPage;
        bool writable = true, userOk = true, executable = true, global = false, largePage = false, dirty = true;
        if (!_pagingEnabled)
        {
            physicalPage = linear & ~0xFFFUL & (_longMode ? ulong.MaxValue : 0xFFFFFFFF);
        }
        else
        {
            physicalPage = WalkPageTables(linear, kind, user, out writable, out userOk, out executable, out global, out largePage, out dirty);
        }
        physical = physicalPage | (linear & 0xFFF);

        byte* readHost = _memory.GetHostPage(physicalPage, false);
        bool isCodePage = _codePages.ContainsKey(physicalPage);
        byte* writeHost = null;
        bool supervisorWriteAllowed = writable || (Cr0 & X86.Cr0Wp) == 0;
        bool writeAllowed = user ? writable && userOk : supervisorWriteAllowed && !(userOk && SmapApplies());
        if (writeAllowed && dirty && !isCodePage)
            writeHost = _memory.GetHostPage(physicalPage, true);

        bool readCacheable = user ? userOk : !(userOk && SmapApplies());
        bool execAllowed = executable && (user ? userOk : !(userOk && (Cr4 & X86.Cr4Smep) != 0));

        if (_dataWatchActive && kind != AccessKind.Execute)
        {
            CheckDataBreakpoints(linear, size, kind);
            if (PageWatched(linear))
            {
                // Leave the page out of the TLB so every access to it is checked here.
                readCacheable = false;
                writeHost = null;
            }
        }

        // SMAP depends on EFLAGS.AC, which STAC/CLAC flip without a TLB flush: keep user pages out of the supervisor TLB.
        bool cacheable = user || !(userOk && _pagingEnabled && (Cr4 & X86.Cr4Smap) != 0);

        TlbEntry[] tlb = user ? _userTlb : _supervisorTlb;
        ref TlbEntry entry = ref tlb[(int)((linear >> 12) & (TlbSize - 1))];
        entry.Tag = TlbTag(linear);
        entry.PhysicalPage = physicalPage;
        entry.ReadHost = readCacheable && cacheable ? readHost : null;
        entry.WriteHost = cacheable ? writeHost : null;
        entry.Executable = execAllowed;
        entry.Global = global && (Cr4 & X86.Cr4Pge) != 0;
        if (largePage) _tlbHoldsLargePages = true;

        if (kind == AccessKind.Write)
        {
            if (writeHost == null && writeAllowed && !isCodePage)
                writeHost = _memory.GetHostPage(physicalPage, true);
            return writeHost == null || isCodePage ? null : writeHost + (linear & 0xFFF);
        }
        return readHost == null ? null : readHost + (linear & 0xFFF);
    }

    /// <summary>SMAP blocks supervisor data accesses to user pages unless EFLAGS.AC is set.</summary>
    private bool SmapApplies() => (Cr4 & X86.Cr4Smap) != 0 && (Rflags & X86.FlagAlignmentCheck) == 0;

    /// <summary>
    /// Walks the guest page tables, checks permissions, sets accessed/dirty bits and returns the physical page.
    /// Raises #PF with the architectural error code and CR2.
    /// </summary>
    private ulong WalkPageTables(ulong linear, AccessKind kind, bool user,
        out bool writable, out bool userOk, out bool executable, out bool global, out bool largePage, out bool dirty)
    {
        writable = true;
        userOk = true;
        executable = true;
        global = false;
        largePage = false;
        dirty = true;
        bool nxEnabled = (Efer & X86.EferNxe) != 0;
        bool pae = (Cr4 & X86.Cr4Pae) != 0;
        ulong physMask = ((1UL << PhysicalAddressBits) - 1) & ~0xFFFUL;
        ulong reservedHigh = ~((1UL << PhysicalAddressBits) - 1) & 0x7FFFFFFFFFFFFFFFUL & ~(0x7FFUL << 52);
        if (!nxEnabled) reservedHigh |= 1UL << 63;

        if (!pae)
        {
            // 32-bit paging: two levels of 4-byte entries, optional 4 MiB pages with PSE.
            ulong pdeAddress = (Cr3 & 0xFFFFF000) | ((linear >> 22) & 0x3FF) * 4;
            uint pde = ReadPagingEntry32(pdeAddress, linear, kind, user);
            if ((pde & 1) == 0) throw PageFault(linear, kind, user, present: false, reserved: false);
            writable &= (pde & 2) != 0;
            userOk &= (pde & 4) != 0;
            if ((pde & 0x80) != 0 && (Cr4 & X86.Cr4Pse) != 0)
            {
                largePage = true;
                CheckPermissions(linear, kind, user, writable, userOk, executable);
                SetAccessedDirty32(pdeAddress, pde, kind == AccessKind.Write);
                dirty = kind == AccessKind.Write || (pde & 0x40) != 0;
                global = (pde & 0x100) != 0;
                ulong frame = (pde & 0xFFC00000) | ((ulong)(pde >> 13) & 0xFF) << 32;
                return frame | (linear & 0x3FF000);
            }
            ulong pteAddress = (pde & 0xFFFFF000) | ((linear >> 12) & 0x3FF) * 4;
            uint pte = ReadPagingEntry32(pteAddress, linear, kind, user);
            if ((pte & 1) == 0) throw PageFault(linear, kind, user, present: false, reserved: false);
            writable &= (pte & 2) != 0;
            userOk &= (pte & 4) != 0;
            CheckPermissions(linear, kind, user, writable, userOk, executable);
            SetAccessed32(pdeAddress, pde);
            SetAccessedDirty32(pteAddress, pte, kind == AccessKind.Write);
            dirty = kind == AccessKind.Write || (pte & 0x40) != 0;
            global = (pte & 0x100) != 0;
            return pte & 0xFFFFF000;
        }

        int levels;
        ulong tableAddress;
        if (_longMode)
        {
            levels = (Cr4 & X86.Cr4La57) != 0 ? 5 : 4;
            tableAddress = Cr3 & physMask;
        }
        else
        {
            // PAE: the four PDPTEs; hardware loads them at CR3 write, we read them at walk time.
            levels = 2;
            ulong pdpteAddress = (Cr3 & 0xFFFFFFE0) + ((linear >> 30) & 3) * 8;
            ulong pdpte = ReadPagingEntry64(pdpteAddress, linear, kind, user);
            if ((pdpte & 1) == 0) throw PageFault(linear, kind, user, present: false, reserved: false);
            if ((pdpte & (reservedHigh | 0x1E6 | (1UL << 63))) != 0) throw PageFault(linear, kind, user, present: true, reserved: true);
            tableAddress = pdpte & physMask;
        }

        Span<ulong> entryAddresses = stackalloc ulong[5];
        Span<ulong> entries = stackalloc ulong[5];
        int walked = 0;
        for (int level = levels; level >= 1; level--)
        {
            int shift = 12 + 9 * (level - 1);
            ulong entryAddress = tableAddress + ((linear >> shift) & 0x1FF) * 8;
            ulong entry = ReadPagingEntry64(entryAddress, linear, kind, user);
            if ((entry & 1) == 0) throw PageFault(linear, kind, user, present: false, reserved: false);
            bool isLarge = (entry & 0x80) != 0 && level <= 3 && level >= 2;
            ulong reserved = reservedHigh;
            if (level >= 4 || (level == 3 && !_longMode)) reserved |= 0x80; // PS is reserved in PML4E/PML5E
            if (isLarge) reserved |= level == 3 ? 0x3FFFE000UL : 0x1FE000UL;
            if ((entry & reserved) != 0) throw PageFault(linear, kind, user, present: true, reserved: true);
            writable &= (entry & 2) != 0;
            userOk &= (entry & 4) != 0;
            if (nxEnabled && (entry & (1UL << 63)) != 0) executable = false;
            entryAddresses[walked] = entryAddress;
            entries[walked] = entry;
            walked++;

            if (level == 1 || isLarge)
            {
                CheckPermissions(linear, kind, user, writable, userOk, executable);
                for (int i = 0; i < walked - 1; i++)
                    SetAccessed64(entryAddresses[i], entries[i]);
                SetAccessedDirty64(entryAddress, entry, kind == AccessKind.Write);
                dirty = kind == AccessKind.Write || (entry & 0x40) != 0;
                global = (entry & 0x100) != 0;
                largePage = isLarge;
                if (!isLarge) return entry & physMask;
                ulong pageMask = (1UL << shift) - 1;
                return (entry & physMask & ~pageMask) | (linear & pageMask & ~0xFFFUL);
            }
            tableAddress = entry & physMask;
        }
        throw new UnsupportedInstructionException("page walk fell through");
    }

    private void CheckPermissions(ulong linear, AccessKind kind, bool user, bool writable, bool userOk, bool executable)
    {
        bool allowed = kind switch
        {
            AccessKind.Write => user ? writable && userOk : (writable || (Cr0 & X86.Cr0Wp) == 0) && !(userOk && SmapApplies()),
            AccessKind.Execute => executable && (user ? userOk : !(userOk && (Cr4 & X86.Cr4Smep) != 0)),
            _ => user ? userOk : !(userOk && SmapApplies()),
        };
        if (!allowed) throw PageFault(linear, kind, user, present: true, reserved: false);
    }

    private GuestFault PageFault(ulong linear, AccessKind kind, bool user, bool present, bool reserved)
    {
        uint code = 0;
        if (present) code |= X86.PageFaultPresent;
        if (kind == AccessKind.Write) code |= X86.PageFaultWrite;
        if (user) code |= X86.PageFaultUser;
        if (reserved) code |= X86.PageFaultReservedBit;
        if (kind == AccessKind.Execute &&
            ((Cr4 & X86.Cr4Smep) != 0 || ((Cr4 & X86.Cr4Pae) != 0 && (Efer & X86.EferNxe) != 0)))
            code |= X86.PageFaultInstructionFetch;
        _faultLinearAddress = linear;
        return new GuestFault(X86.VectorPageFault, code, true);
    }

    /// <summary>CR2 is written when the #PF is delivered, not when it is detected.</summary>
    private ulong _faultLinearAddress;

    private uint ReadPagingEntry32(ulong address, ulong linear, AccessKind kind, bool user)
    {
        byte* page = _memory.GetHostPage(address & ~0xFFFUL, false);
        if (page == null) throw new UnsupportedInstructionException($"page table at 0x{address:x} is not RAM (walking 0x{linear:x})");
        return Volatile.Read(ref *(uint*)(page + (address & 0xFFF)));
    }

    private ulong ReadPagingEntry64(ulong address, ulong linear, AccessKind kind, bool user)
    {
        byte* page = _memory.GetHostPage(address & ~0xFFFUL, false);
        if (page == null) throw new UnsupportedInstructionException($"page table at 0x{address:x} is not RAM (walking 0x{linear:x})");
        return Volatile.Read(ref *(ulong*)(page + (address & 0xFFF)));
    }

    private void SetAccessed32(ulong address, uint entry)
    {
        if ((entry & 0x20) != 0) return;
        SetPagingBits32(address, 0x20);
    }

    private void SetAccessedDirty32(ulong address, uint entry, bool write)
    {
        uint bits = 0x20u | (write ? 0x40u : 0);
        if ((entry & bits) == bits) return;
        SetPagingBits32(address, bits);
    }

    private void SetPagingBits32(ulong address, uint bits)
    {
        byte* page = _memory.GetHostPage(address & ~0xFFFUL, true);
        if (page == null) return;
        Interlocked.Or(ref *(uint*)(page + (address & 0xFFF)), bits);
        NoteWrite(address & ~0xFFFUL);
    }

    private void SetAccessed64(ulong address, ulong entry)
    {
        if ((entry & 0x20) != 0) return;
        SetPagingBits64(address, 0x20);
    }

    private void SetAccessedDirty64(ulong address, ulong entry, bool write)
    {
        ulong bits = 0x20UL | (write ? 0x40UL : 0);
        if ((entry & bits) == bits) return;
        SetPagingBits64(address, bits);
    }

    private void SetPagingBits64(ulong address, ulong bits)
    {
        byte* page = _memory.GetHostPage(address & ~0xFFFUL, true);
        if (page == null) return;
        Interlocked.Or(ref *(ulong*)(page + (address & 0xFFF)), bits);
        NoteWrite(address & ~0xFFFUL);
    }

    /// <summary>
    /// Translates a linear address the way the guest would see it, for debuggers and KVM_TRANSLATE. Never faults and
    /// never sets accessed/dirty bits. Returns false when the address is not mapped.
    /// </summary>
    public bool TryTranslate(ulong linear, out ulong physical, out bool writable, out bool user)
    {
        physical = linear;
        writable = true;
        user = true;
        if (!_pagingEnabled)
            return true;
        physical = PeekWalk(linear, out writable, out user);
        return physical != ulong.MaxValue;
    }

    private ulong PeekWalk(ulong linear, out bool writable, out bool user)
    {
        writable = true;
        user = true;
        ulong physMask = ((1UL << PhysicalAddressBits) - 1) & ~0xFFFUL;
        if ((Cr4 & X86.Cr4Pae) == 0)
        {
            uint pde = PeekPhysical32((Cr3 & 0xFFFFF000) | ((linear >> 22) & 0x3FF) * 4);
            if ((pde & 1) == 0) return ulong.MaxValue;
            writable &= (pde & 2) != 0;
            user &= (pde & 4) != 0;
            if ((pde & 0x80) != 0 && (Cr4 & X86.Cr4Pse) != 0)
                return ((pde & 0xFFC00000) | ((ulong)(pde >> 13) & 0xFF) << 32) | (linear & 0x3FFFFF);
            uint pte = PeekPhysical32((pde & 0xFFFFF000) | ((linear >> 12) & 0x3FF) * 4);
            if ((pte & 1) == 0) return ulong.MaxValue;
            writable &= (pte & 2) != 0;
            user &= (pte & 4) != 0;
            return (pte & 0xFFFFF000) | (linear & 0xFFF);
        }
        int levels;
        ulong table;
        if (_longMode)
        {
            levels = (Cr4 & X86.Cr4La57) != 0 ? 5 : 4;
            table = Cr3 & physMask;
        }
        else
        {
            ulong pdpte = PeekPhysical64((Cr3 & 0xFFFFFFE0) + ((linear >> 30) & 3) * 8);
            if ((pdpte & 1) == 0) return ulong.MaxValue;
            levels = 2;
            table = pdpte & physMask;
        }
        for (int level = levels; level >= 1; level--)
        {
            int shift = 12 + 9 * (level - 1);
            ulong entry = PeekPhysical64(table + ((linear >> shift) & 0x1FF) * 8);
            if ((entry & 1) == 0) return ulong.MaxValue;
            writable &= (entry & 2) != 0;
            user &= (entry & 4) != 0;
            if (level == 1 || ((entry & 0x80) != 0 && level <= 3))
            {
                ulong pageMask = (1UL << shift) - 1;
                return (entry & physMask & ~pageMask) | (linear & pageMask);
            }
            table = entry & physMask;
        }
        return ulong.MaxValue;
    }

    private uint PeekPhysical32(ulong address)
    {
        byte* page = _memory.GetHostPage(address & ~0xFFFUL, false);
        return page == null ? 0 : *(uint*)(page + (address & 0xFFF));
    }

    private ulong PeekPhysical64(ulong address)
    {
        byte* page = _memory.GetHostPage(address & ~0xFFFUL, false);
        return page == null ? 0 : *(ulong*)(page + (address & 0xFFF));
    }
}
