using System.Runtime.CompilerServices;

namespace KvmSharp.Soft.Cpu;

public sealed unsafe partial class X86Cpu
{
    private struct MmioRecord
    {
        public ulong Address;
        public int Size;
        public ulong Data;
    }

    /// <summary>MMIO reads already answered by the kernel, consumed in order when the instruction re-executes.</summary>
    private readonly MmioRecord[] _mmioReplay = new MmioRecord[8];
    private int _mmioReplayCount;
    private int _mmioReplayIndex;

    /// <summary>MMIO writes of the current instruction, reported one exit each.</summary>
    private readonly MmioRecord[] _pendingMmioWrites = new MmioRecord[16];
    private int _pendingMmioWriteCount;
    private int _pendingMmioWriteIndex;

    /// <summary>Descriptor-table and TSS accesses are supervisor accesses even at CPL 3.</summary>
    private bool _systemAccess;

    private bool UserAccess => _cpl == 3 && !_systemAccess;

    // ---- Segmentation ---------------------------------------------------------------------------

    /// <summary>
    /// Linear address of a data access of <paramref name="size"/> bytes: segmentation, then the alignment check (#AC),
    /// which the processor makes on the linear address before paging.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ulong ToLinear(int segment, ulong offset, int size, AccessKind kind)
    {
        ulong linear = SegmentedLinear(segment, offset, size, kind);
        // Only an access off its own (power-of-two) size's boundary, or of an odd size, can be misaligned; the rest of
        // the condition is looked at then.
        if (size > 1 && ((linear & (ulong)(size - 1) & 15) != 0 || (size & (size - 1)) != 0)) CheckAlignment(linear, size);
        return linear;
    }

    /// <summary>Segmentation (limit, type, canonical form) for an access or a whole range, without the alignment check.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ulong SegmentedLinear(int segment, ulong offset, int size, AccessKind kind)
    {
        if (_mode64)
        {
            ulong linear = segment >= (int)SegmentIndex.FS ? Segments[segment].Base + offset : offset;
            if (!IsCanonical(linear))
                throw segment == (int)SegmentIndex.SS ? Fault(X86.VectorStackFault, 0) : Gp0();
            return linear;
        }
        return ToLinearLegacy(segment, offset, size, kind);
    }

    /// <summary>
    /// #AC(0) for a misaligned data access at CPL 3 with CR0.AM and RFLAGS.AC set. Implicit supervisor accesses
    /// (descriptor tables, TSS) are exempt. The required alignment follows the data type (SDM "Alignment Requirements
    /// by Data Type"): the operand size for words, doublewords, quadwords and 16-byte operands (the AMD EPYC checks
    /// MOVUPS too; the forms that require alignment raise #GP first, see XmmMemoryLinear and CMPXCHG16B), 4 for a
    /// 48-bit far pointer (6 bytes), 8 for an 80-bit x87 value or a 16:64 far pointer (10 bytes).
    /// </summary>
    private void CheckAlignment(ulong linear, int size)
    {
        if (_cpl != 3 || (Cr0 & X86.Cr0Am) == 0 || _systemAccess) return;
        ulong mask = size switch { 2 => 1, 4 or 6 => 3, 8 or 10 => 7, 16 => 15, _ => 0 };
        // _rflags, not Rflags: AC is never kept lazily, and Rflags would work out the arithmetic flags on every access.
        if ((linear & mask) != 0 && (_rflags & X86.FlagAlignmentCheck) != 0) throw Fault(X86.VectorAlignmentCheck, 0);
    }

    private ulong ToLinearLegacy(int segment, ulong offset, int size, AccessKind kind)
    {
        ref SegmentCache s = ref Segments[segment];
        bool stack = segment == (int)SegmentIndex.SS;
        if (_protectedMode && (_rflags & X86.FlagVm86) == 0)
        {
            if (s.Unusable)
                throw stack ? Fault(X86.VectorStackFault, 0) : Gp0();
            if (kind == AccessKind.Write && (s.IsCode || (s.Type & 2) == 0) && s.S)
                throw stack ? Fault(X86.VectorStackFault, 0) : Gp0();
            if (kind == AccessKind.Read && s.IsCode && (s.Type & 2) == 0)
                throw Gp0();
        }
        ulong last = offset + (ulong)size - 1;
        if (s.S && !s.IsCode && (s.Type & 4) != 0)
        {
            ulong upper = s.Db ? 0xFFFFFFFFUL : 0xFFFFUL;
            if (offset <= s.Limit || last > upper)
                throw stack ? Fault(X86.VectorStackFault, 0) : Gp0();
        }
        else if (last > s.Limit && s.Limit != 0xFFFFFFFF)
        {
            // With a 4 GiB limit the SDM leaves a multi-byte access that runs past offset 0xFFFFFFFF implementation-
            // specific; like the processor under Host it does not fault here, and the linear address wraps to 0.
            throw stack ? Fault(X86.VectorStackFault, 0) : Gp0();
        }
        return (s.Base + offset) & 0xFFFFFFFF;
    }

    private int _canonicalShift = 16;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool IsCanonical(ulong linear) => (ulong)(((long)linear << _canonicalShift) >> _canonicalShift) == linear;

    // ---- Segmented accesses used by instructions ------------------------------------------------

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ulong ReadMemory(int segment, ulong offset, int size) =>
        ReadLinear(ToLinear(segment, offset, size, AccessKind.Read), size);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void WriteMemory(int segment, ulong offset, int size, ulong value) =>
        WriteLinear(ToLinear(segment, offset, size, AccessKind.Write), size, value);

    // ---- Linear accesses ------------------------------------------------------------------------

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ulong ReadLinear(ulong linear, int size)
    {
        if ((linear & 0xFFF) + (ulong)size <= 0x1000)
        {
            byte* host = TranslateLinear(linear, AccessKind.Read, UserAccess, out ulong physical, size);
            if (host != null) return LoadHost(host, size);
            return ReadPhysicalSlow(physical, size);
        }
        return ReadLinearCrossPage(linear, size);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void WriteLinear(ulong linear, int size, ulong value)
    {
        if ((linear & 0xFFF) + (ulong)size <= 0x1000)
        {
            byte* host = TranslateLinear(linear, AccessKind.Write, UserAccess, out ulong physical, size);
            if (host != null)
            {
                StoreHost(host, size, value);
                return;
            }
            WritePhysicalSlow(physical, size, value);
            return;
        }
        WriteLinearCrossPage(linear, size, value);
    }

    /// <summary>Raises the fault a write of <paramref name="size"/> bytes at <paramref name="linear"/> would, without writing.</summary>
    private void ProbeWrite(ulong linear, int size)
    {
        TranslateLinear(linear, AccessKind.Write, UserAccess, out _, size);
        ulong last = (linear + (ulong)size - 1) & DataLinearMask;
        if ((last & ~0xFFFUL) != (linear & ~0xFFFUL))
            TranslateLinear(last & ~0xFFFUL, AccessKind.Write, UserAccess, out _);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong LoadHost(byte* host, int size) => size switch
    {
        1 => *host,
        2 => Unsafe.ReadUnaligned<ushort>(host),
        4 => Unsafe.ReadUnaligned<uint>(host),
        _ => Unsafe.ReadUnaligned<ulong>(host),
    };

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreHost(byte* host, int size, ulong value)
    {
        switch (size)
        {
            case 1: *host = (byte)value; break;
            case 2: Unsafe.WriteUnaligned(host, (ushort)value); break;
            case 4: Unsafe.WriteUnaligned(host, (uint)value); break;
            default: Unsafe.WriteUnaligned(host, value); break;
        }
    }

    private ulong ReadLinearCrossPage(ulong linear, int size)
    {
        int firstPart = (int)(0x1000 - (linear & 0xFFF));
        ulong secondLinear = (linear + (ulong)firstPart) & DataLinearMask;
        // Translate both halves before touching memory so a fault on either leaves no side effects.
        TranslateLinear(linear, AccessKind.Read, UserAccess, out ulong physical1, firstPart);
        TranslateLinear(secondLinear, AccessKind.Read, UserAccess, out ulong physical2, size - firstPart);
        ulong low = ReadPhysical(physical1, firstPart);
        ulong high = ReadPhysical(physical2, size - firstPart);
        return low | (high << (firstPart * 8));
    }

    private void WriteLinearCrossPage(ulong linear, int size, ulong value)
    {
        int firstPart = (int)(0x1000 - (linear & 0xFFF));
        ulong secondLinear = (linear + (ulong)firstPart) & DataLinearMask;
        TranslateLinear(linear, AccessKind.Write, UserAccess, out ulong physical1, firstPart);
        TranslateLinear(secondLinear, AccessKind.Write, UserAccess, out ulong physical2, size - firstPart);
        WritePhysical(physical1, firstPart, value);
        WritePhysical(physical2, size - firstPart, value >> (firstPart * 8));
    }

    private ulong LinearMask => _longMode ? ulong.MaxValue : 0xFFFFFFFF;

    /// <summary>Segmented data accesses outside 64-bit mode form 32-bit linear addresses (compatibility mode too).</summary>
    private ulong DataLinearMask => _mode64 || _systemAccess ? LinearMask : 0xFFFFFFFF;

    /// <summary>Reads 1..8 bytes that lie within one physical page.</summary>
    private ulong ReadPhysical(ulong physical, int size)
    {
        byte* page = _memory.GetHostPage(physical & ~0xFFFUL, false);
        if (page == null) return MmioRead(physical, size);
        byte* host = page + (physical & 0xFFF);
        ulong value = 0;
        for (int i = 0; i < size; i++) value |= (ulong)host[i] << (i * 8);
        return value;
    }

    private void WritePhysical(ulong physical, int size, ulong value)
    {
        byte* page = _memory.GetHostPage(physical & ~0xFFFUL, true);
        if (page == null)
        {
            MmioWrite(physical, size, value);
            return;
        }
        byte* host = page + (physical & 0xFFF);
        for (int i = 0; i < size; i++) host[i] = (byte)(value >> (i * 8));
        NoteWrite(physical & ~0xFFFUL);
    }

    private ulong ReadPhysicalSlow(ulong physical, int size)
    {
        byte* page = _memory.GetHostPage(physical & ~0xFFFUL, false);
        if (page == null) return MmioRead(physical, size);
        return LoadHost(page + (physical & 0xFFF), size);
    }

    private void WritePhysicalSlow(ulong physical, int size, ulong value)
    {
        byte* page = _memory.GetHostPage(physical & ~0xFFFUL, true);
        if (page == null)
        {
            MmioWrite(physical, size, value);
            return;
        }
        StoreHost(page + (physical & 0xFFF), size, value);
        NoteWrite(physical & ~0xFFFUL);
    }

    /// <summary>
    /// Bytes for accesses wider than 8 (SSE, descriptor tables, FXSAVE). Splits by page and by 8-byte MMIO fragments.
    /// </summary>
    private void ReadLinearBytes(ulong linear, Span<byte> destination)
    {
        int done = 0;
        while (done < destination.Length)
        {
            ulong address = (linear + (ulong)done) & LinearMask;
            int chunk = Math.Min(destination.Length - done, (int)(0x1000 - (address & 0xFFF)));
            chunk = Math.Min(chunk, 8);
            ulong value = ReadLinear(address, chunk);
            for (int i = 0; i < chunk; i++) destination[done + i] = (byte)(value >> (i * 8));
            done += chunk;
        }
    }

    private void WriteLinearBytes(ulong linear, ReadOnlySpan<byte> source)
    {
        // Probe every page first: a fault part-way must not leave a partial write.
        for (ulong page = linear & ~0xFFFUL; page <= ((linear + (ulong)source.Length - 1) & ~0xFFFUL); page += 0x1000)
            TranslateLinear(Math.Max(page, linear), AccessKind.Write, UserAccess, out _);
        int done = 0;
        while (done < source.Length)
        {
            ulong address = (linear + (ulong)done) & LinearMask;
            int chunk = Math.Min(source.Length - done, (int)(0x1000 - (address & 0xFFF)));
            chunk = Math.Min(chunk, 8);
            ulong value = 0;
            for (int i = 0; i < chunk; i++) value |= (ulong)source[done + i] << (i * 8);
            WriteLinear(address, chunk, value);
            done += chunk;
        }
    }

    // ---- MMIO -----------------------------------------------------------------------------------

    private ulong MmioRead(ulong physical, int size)
    {
        if (_mmioReplayIndex < _mmioReplayCount)
        {
            MmioRecord record = _mmioReplay[_mmioReplayIndex++];
            if (record.Address == physical && record.Size == size)
                return record.Data;
            throw new UnsupportedInstructionException($"MMIO replay mismatch at 0x{physical:x}");
        }
        if (_mmioReplayCount == _mmioReplay.Length)
            throw new UnsupportedInstructionException("too many MMIO reads in one instruction");
        Exit.MmioAddress = physical;
        Exit.MmioSize = (byte)size;
        Exit.MmioIsWrite = false;
        Exit.MmioData = 0;
        MmioReadData = 0;
        _pendingMmioReadAddress = physical;
        _pendingMmioReadSize = size;
        _pending = PendingKind.MmioRead;
        Rip = _instructionRip;
        SetExit(CpuExitReason.Mmio);
        throw CpuExitException.Instance;
    }

    private void MmioWrite(ulong physical, int size, ulong value)
    {
        if (_pendingMmioWriteCount == _pendingMmioWrites.Length)
            throw new UnsupportedInstructionException("too many MMIO writes in one instruction");
        ulong mask = size == 8 ? ulong.MaxValue : (1UL << (size * 8)) - 1;
        _pendingMmioWrites[_pendingMmioWriteCount++] = new MmioRecord { Address = physical, Size = size, Data = value & mask };
    }

    /// <summary>Reports the next queued MMIO write as the exit. Returns false when none is left.</summary>
    private bool ReportNextMmioWrite()
    {
        if (_pendingMmioWriteIndex >= _pendingMmioWriteCount)
        {
            _pendingMmioWriteCount = 0;
            _pendingMmioWriteIndex = 0;
            return false;
        }
        MmioRecord record = _pendingMmioWrites[_pendingMmioWriteIndex++];
        Exit.MmioAddress = record.Address;
        Exit.MmioSize = (byte)record.Size;
        Exit.MmioIsWrite = true;
        Exit.MmioData = record.Data;
        SetExit(CpuExitReason.Mmio);
        return true;
    }

    // ---- System (supervisor) linear accesses ----------------------------------------------------

    private ulong ReadSystem(ulong linear, int size)
    {
        bool saved = _systemAccess;
        _systemAccess = true;
        try { return ReadLinear(linear & LinearMask, size); }
        finally { _systemAccess = saved; }
    }

    private void WriteSystem(ulong linear, int size, ulong value)
    {
        bool saved = _systemAccess;
        _systemAccess = true;
        try { WriteLinear(linear & LinearMask, size, value); }
        finally { _systemAccess = saved; }
    }

    // ---- Host helpers for the kernel and tests -------------------------------------------------

    /// <summary>Reads guest-virtual memory with the current translation, as the guest would (may set A bits). For debuggers.</summary>
    public bool TryReadVirtual(ulong linear, Span<byte> destination)
    {
        for (int i = 0; i < destination.Length; i++)
        {
            if (!TryTranslate(linear + (ulong)i, out ulong physical, out _, out _)) return false;
            byte* page = _memory.GetHostPage(physical & ~0xFFFUL, false);
            if (page == null) return false;
            destination[i] = page[physical & 0xFFF];
        }
        return true;
    }
}
