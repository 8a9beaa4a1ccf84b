using Iced.Intel;

namespace KvmSharp.Soft.Cpu;

public sealed unsafe partial class X86Cpu
{
    /// <summary>Iterations a REP instruction runs before yielding to the run loop (interrupts, stop requests).</summary>
    private const int StringIterationsPerSlice = 1 << 16;

    private static int StringElementSize(Mnemonic mnemonic) => mnemonic switch
    {
        Mnemonic.Movsb or Mnemonic.Cmpsb or Mnemonic.Stosb or Mnemonic.Lodsb or Mnemonic.Scasb => 1,
        Mnemonic.Movsw or Mnemonic.Cmpsw or Mnemonic.Stosw or Mnemonic.Lodsw or Mnemonic.Scasw => 2,
        Mnemonic.Movsd or Mnemonic.Cmpsd or Mnemonic.Stosd or Mnemonic.Lodsd or Mnemonic.Scasd => 4,
        _ => 8,
    };

    private void ExecuteString(ref Instruction instruction)
    {
        Mnemonic mnemonic = instruction.Mnemonic;
        int size = StringElementSize(mnemonic);
        bool hasSource = mnemonic is Mnemonic.Movsb or Mnemonic.Movsw or Mnemonic.Movsd or Mnemonic.Movsq
            or Mnemonic.Cmpsb or Mnemonic.Cmpsw or Mnemonic.Cmpsd or Mnemonic.Cmpsq
            or Mnemonic.Lodsb or Mnemonic.Lodsw or Mnemonic.Lodsd or Mnemonic.Lodsq;
        // LODS and SCAS name the accumulator first: their memory operand, which
        // carries the address size (67h prefix), is the second.
        OpKind addressKind = mnemonic is Mnemonic.Lodsb or Mnemonic.Lodsw or Mnemonic.Lodsd or Mnemonic.Lodsq
            or Mnemonic.Scasb or Mnemonic.Scasw or Mnemonic.Scasd or Mnemonic.Scasq
            ? instruction.Op1Kind
            : instruction.Op0Kind;
        int addressSize = StringAddressSize(addressKind);
        int sourceSegment = hasSource ? MemorySegment(ref instruction) : 0;
        bool repe = instruction.HasRepePrefix;
        bool repne = instruction.HasRepnePrefix;
        bool rep = repe || repne;
        bool conditional = mnemonic is Mnemonic.Cmpsb or Mnemonic.Cmpsw or Mnemonic.Cmpsd or Mnemonic.Cmpsq
            or Mnemonic.Scasb or Mnemonic.Scasw or Mnemonic.Scasd or Mnemonic.Scasq;
        ulong mask = SizeMask(addressSize);
        long step = (Rflags & X86.FlagDirection) != 0 ? -size : size;

        for (int iteration = 0; ; iteration++)
        {
            if (rep && (Gpr[1] & mask) == 0) return;
            if (iteration == StringIterationsPerSlice)
            {
                _nextRip = _instructionRip;
                _notRetired = true;
                return;
            }
            if (rep && step > 0 && iteration == 0 && TryBulkString(mnemonic, size, addressSize, sourceSegment, mask))
                continue;

            ulong si = Gpr[6] & mask;
            ulong di = Gpr[7] & mask;
            switch (mnemonic)
            {
                case Mnemonic.Movsb: case Mnemonic.Movsw: case Mnemonic.Movsd: case Mnemonic.Movsq:
                    WriteMemory((int)SegmentIndex.ES, di, size, ReadMemory(sourceSegment, si, size));
                    SetIndexRegister(6, si + (ulong)step, addressSize);
                    SetIndexRegister(7, di + (ulong)step, addressSize);
                    break;
                case Mnemonic.Stosb: case Mnemonic.Stosw: case Mnemonic.Stosd: case Mnemonic.Stosq:
                    WriteMemory((int)SegmentIndex.ES, di, size, Gpr[0]);
                    SetIndexRegister(7, di + (ulong)step, addressSize);
                    break;
                case Mnemonic.Lodsb: case Mnemonic.Lodsw: case Mnemonic.Lodsd: case Mnemonic.Lodsq:
                    WriteRegister(AccumulatorFor(size), ReadMemory(sourceSegment, si, size));
                    SetIndexRegister(6, si + (ulong)step, addressSize);
                    break;
                case Mnemonic.Cmpsb: case Mnemonic.Cmpsw: case Mnemonic.Cmpsd: case Mnemonic.Cmpsq:
                {
                    // The processor reads ES:RDI first: when both operands would fault, the RDI fault is the one reported.
                    // But a non-canonical RDI is reported last: after any fault at RSI (probed on AMD EPYC: RSI unmapped
                    // and RDI non-canonical give the #PF at RSI; RSI non-canonical and RDI unmapped, the #PF at RDI).
                    // REPE CMPSB (memcmp's form) is the exception: it reads RSI first (probed: with both faulting, the #PF
                    // names RSI; REPNE CMPSB, CMPSB alone and REPE CMPSW/D/Q name RDI).
                    bool sourceFirst = (_mode64 && !IsCanonical(di)) || (repe && size == 1);
                    ulong first = sourceFirst ? ReadMemory(sourceSegment, si, size) : 0;
                    ulong second = ReadMemory((int)SegmentIndex.ES, di, size);
                    if (!sourceFirst) first = ReadMemory(sourceSegment, si, size);
                    Compute(AluOp.Cmp, first, second, size);
                    SetIndexRegister(6, si + (ulong)step, addressSize);
                    SetIndexRegister(7, di + (ulong)step, addressSize);
                    break;
                }
                default:
                {
                    ulong value = ReadMemory((int)SegmentIndex.ES, di, size);
                    Compute(AluOp.Cmp, Gpr[0] & SizeMask(size), value, size);
                    SetIndexRegister(7, di + (ulong)step, addressSize);
                    break;
                }
            }
            if (!rep) return;
            ulong counter = ((Gpr[1] & mask) - 1) & mask;
            SetIndexRegister(1, counter, addressSize);
            if (conditional)
            {
                bool zero = (Rflags & X86.FlagZero) != 0;
                if ((repe && !zero) || (repne && zero)) return;
            }
            if (_pendingMmioWriteCount != 0)
            {
                // Even after the last iteration: KVM's emulator retires a REP instruction only when it finds RCX at zero.
                StopRepeatAfterWriteExit();
                return;
            }
            if (counter == 0) return;
            if (_mmioReplayCount != 0 || _endBlock)
            {
                // An MMIO read or a write to code ends the slice; the instruction resumes from the updated registers.
                _nextRip = _instructionRip;
                _notRetired = true;
                return;
            }
        }
    }

    /// <summary>
    /// Leaves a REP MOVS/STOS/OUTS unretired after an element that exits to userspace with a write, as KVM's emulator
    /// (which handles every MMIO access and string port I/O, on any host) does: it sets RF while a REP string instruction
    /// runs, hands its flags back with a write exit, and clears RF when the next entry finds RCX at zero and retires the
    /// instruction. RF keeps an instruction breakpoint on it from firing again when it resumes.
    /// </summary>
    private void StopRepeatAfterWriteExit()
    {
        _nextRip = _instructionRip;
        _notRetired = true;
        Rflags |= X86.FlagResume;
        _keepResumeFlag = true;
    }

    /// <summary>
    /// REP MOVS/STOS going up over RAM: copies whole page-bounded chunks through host pointers. Returns false to fall back
    /// to element-by-element execution (MMIO, code pages, overlap, segment wrap).
    /// </summary>
    private bool TryBulkString(Mnemonic mnemonic, int size, int addressSize, int sourceSegment, ulong mask)
    {
        bool isMove = mnemonic is Mnemonic.Movsb or Mnemonic.Movsw or Mnemonic.Movsd or Mnemonic.Movsq;
        bool isStore = mnemonic is Mnemonic.Stosb or Mnemonic.Stosw or Mnemonic.Stosd or Mnemonic.Stosq;
        if (!isMove && !isStore) return false;
        int moved = 0;
        while (moved < StringIterationsPerSlice)
        {
            ulong counter = Gpr[1] & mask;
            if (counter == 0) break;
            ulong elements = Math.Min(counter, (ulong)(StringIterationsPerSlice - moved));
            // The processor reads the source before it checks the destination: a fault on the source wins.
            ulong si = 0;
            byte* source = null;
            if (isMove)
            {
                si = Gpr[6] & mask;
                ulong sourceLinear = ToLinear(sourceSegment, si, size, AccessKind.Read);
                elements = Math.Min(elements, (0x1000 - (sourceLinear & 0xFFF)) / (ulong)size);
                if (elements == 0 || si + elements * (ulong)size - 1 > mask) break;
                if (!BulkRangeWithinLimit(sourceSegment, si, elements * (ulong)size)) break;
                source = TranslateLinear(sourceLinear, AccessKind.Read, UserAccess, out _);
                if (source == null) break;
            }
            ulong di = Gpr[7] & mask;
            ulong destinationLinear = ToLinear((int)SegmentIndex.ES, di, size, AccessKind.Write);
            elements = Math.Min(elements, (0x1000 - (destinationLinear & 0xFFF)) / (ulong)size);
            if (elements == 0) break;
            ulong bytes = elements * (ulong)size;
            if (di + bytes - 1 > mask) break;
            if (!BulkRangeWithinLimit((int)SegmentIndex.ES, di, bytes)) break;
            byte* destination = TranslateLinear(destinationLinear, AccessKind.Write, UserAccess, out _);
            if (destination == null) break;
            if (isMove)
            {
                if (destination > source && destination < source + bytes)
                {
                    // The destination overlaps ahead of the source: each iteration reads its whole element (which
                    // earlier iterations may have partly overwritten) before writing it, as the processor does.
                    for (ulong i = 0; i < bytes; i += (ulong)size) StoreHost(destination + i, size, LoadHost(source + i, size));
                }
                else
                {
                    Buffer.MemoryCopy(source, destination, (long)bytes, (long)bytes);
                }
                SetIndexRegister(6, si + bytes, addressSize);
            }
            else
            {
                ulong value = Gpr[0];
                if (size == 1)
                {
                    new Span<byte>(destination, (int)bytes).Fill((byte)value);
                }
                else
                {
                    for (ulong i = 0; i < elements; i++) StoreHost(destination + i * (ulong)size, size, value);
                }
            }
            SetIndexRegister(7, di + bytes, addressSize);
            SetIndexRegister(1, counter - elements, addressSize);
            moved += (int)elements;
        }
        if ((Gpr[1] & mask) != 0 && moved >= StringIterationsPerSlice)
        {
            _nextRip = _instructionRip;
            _notRetired = true;
        }
        return moved > 0;
    }

    /// <summary>
    /// Whether a bulk chunk lies inside its segment's limit. When it does not, the element loop takes over, so the
    /// elements before the one that crosses the limit are still copied before the #GP, as on the processor.
    /// </summary>
    private bool BulkRangeWithinLimit(int segment, ulong offset, ulong bytes)
    {
        if (_mode64) return true;
        ref SegmentCache s = ref Segments[segment];
        bool expandDown = s.S && !s.IsCode && (s.Type & 4) != 0;
        return !expandDown && offset + bytes - 1 <= s.Limit;
    }
}
