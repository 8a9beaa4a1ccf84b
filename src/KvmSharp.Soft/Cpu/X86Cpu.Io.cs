using Iced.Intel;

namespace KvmSharp.Soft.Cpu;

/// <summary>What the next <see cref="X86Cpu.Run"/> must finish before executing anything new.</summary>
internal enum PendingKind : byte
{
    None,
    MmioRead,
    MmioWrites,
    IoIn,
    IoInString,
    IoOut,
    IoOutString,
}

public sealed unsafe partial class X86Cpu
{
    private PendingKind _pending;
    /// <summary>The instruction that caused the exit retires on the next Run (to <see cref="_deferredNextRip"/>).</summary>
    private bool _retireDeferred;
    private bool _mmioWriteRetireDeferred;
    private ulong _deferredNextRip;
    /// <summary>The instruction did not finish (REP iteration boundary or an exit that re-executes it).</summary>
    private bool _notRetired;
    private ulong _pendingMmioReadAddress;
    private int _pendingMmioReadSize;

    // State of a string I/O instruction waiting for completion.
    private int _ioElementSize;
    private int _ioAddressSize;
    private uint _ioCount;
    private bool _ioRep;

    /// <summary>True when the CPU waits for the kernel to complete an I/O or MMIO exit on the next Run.</summary>
    public bool HasPendingCompletion => _pending != PendingKind.None;

    /// <summary>RIP when the exit happened; a kernel that moved RIP meanwhile cancels an I/O completion, as KVM does.</summary>
    private ulong _exitRip;

    private void CompletePending(ref long remaining)
    {
        PendingKind kind = _pending;
        _pending = PendingKind.None;
        if (kind is PendingKind.IoIn or PendingKind.IoInString or PendingKind.IoOut or PendingKind.IoOutString && Rip != _exitRip)
            return;
        switch (kind)
        {
            case PendingKind.MmioRead:
            {
                ulong mask = SizeMask(_pendingMmioReadSize);
                _mmioReplay[_mmioReplayCount++] = new MmioRecord { Address = _pendingMmioReadAddress, Size = _pendingMmioReadSize, Data = MmioReadData & mask };
                _mmioReplayIndex = 0;
                ExecuteBlock(ref remaining);
                break;
            }
            case PendingKind.MmioWrites:
                if (ReportNextMmioWrite())
                {
                    _pending = PendingKind.MmioWrites;
                    return;
                }
                if (_mmioWriteRetireDeferred)
                {
                    _mmioWriteRetireDeferred = false;
                    Rip = _deferredNextRip;
                    InstructionsRetired++;
                }
                break;
            case PendingKind.IoIn:
            {
                ulong value = BitConverter.ToUInt32(IoData, 0);
                WriteRegister(AccumulatorFor(_ioElementSize), value);
                Rip = _deferredNextRip;
                InstructionsRetired++;
                break;
            }
            case PendingKind.IoOut:
                Rip = _deferredNextRip;
                InstructionsRetired++;
                break;
            case PendingKind.IoInString:
            {
                _instructionRip = Rip;
                ulong addressMask = SizeMask(_ioAddressSize);
                long step = (Rflags & X86.FlagDirection) != 0 ? -_ioElementSize : _ioElementSize;
                ulong di = Gpr[7] & addressMask;
                for (int i = 0; i < _ioCount; i++)
                {
                    ulong value = 0;
                    for (int b = 0; b < _ioElementSize; b++) value |= (ulong)IoData[i * _ioElementSize + b] << (b * 8);
                    WriteMemory((int)SegmentIndex.ES, di, _ioElementSize, value);
                    di = (di + (ulong)step) & addressMask;
                }
                SetIndexRegister(7, di, _ioAddressSize);
                FinishStringIo();
                break;
            }
            case PendingKind.IoOutString:
            {
                ulong addressMask = SizeMask(_ioAddressSize);
                long step = (Rflags & X86.FlagDirection) != 0 ? -_ioElementSize : _ioElementSize;
                SetIndexRegister(6, (Gpr[6] + (ulong)(step * _ioCount)) & addressMask, _ioAddressSize);
                FinishStringIo();
                break;
            }
        }
    }

    private void FinishStringIo()
    {
        bool done = true;
        if (_ioRep)
        {
            ulong counterMask = SizeMask(_ioAddressSize);
            ulong counter = ((Gpr[1] & counterMask) - _ioCount) & counterMask;
            SetIndexRegister(1, counter, _ioAddressSize);
            done = counter == 0;
        }
        if (done)
        {
            Rip = _deferredNextRip;
            InstructionsRetired++;
        }
    }

    /// <summary>Writes RSI/RDI/RCX honouring the address size (16-bit updates keep the upper bits).</summary>
    private void SetIndexRegister(int index, ulong value, int addressSize)
    {
        Gpr[index] = addressSize switch
        {
            2 => (Gpr[index] & ~0xFFFFUL) | (value & 0xFFFF),
            4 => value & 0xFFFFFFFF,
            _ => value,
        };
    }

    /// <summary>Called after an instruction that exits, does not retire, or queued MMIO writes.</summary>
    private void FinishSpecialInstruction()
    {
        bool retire = !_notRetired && !_retireDeferred;
        if (_retireDeferred)
        {
            _deferredNextRip = _nextRip;
            Rip = _instructionRip;
        }
        else
        {
            Rip = _nextRip;
        }
        _retireDeferred = false;
        _notRetired = false;
        if (retire) InstructionsRetired++;
        if (_mmioReplayCount != 0)
        {
            _mmioReplayCount = 0;
            _mmioReplayIndex = 0;
        }
        if (_pendingMmioWriteCount != 0 && !_exitPending)
        {
            ReportNextMmioWrite();
            _pending = PendingKind.MmioWrites;
            if (DeferMmioWriteRetire && retire)
            {
                _deferredNextRip = Rip;
                Rip = _instructionRip;
                InstructionsRetired--;
                _mmioWriteRetireDeferred = true;
            }
        }
    }

    // ---- Port I/O -------------------------------------------------------------------------------

    /// <summary>#GP(0) unless CPL ≤ IOPL or the TSS I/O permission bitmap allows every byte of the access.</summary>
    private void CheckIoPermission(ushort port, int size)
    {
        if (!_protectedMode) return;
        if (_cpl <= Iopl && (Rflags & X86.FlagVm86) == 0) return;
        ref SegmentCache tr = ref Segments[(int)SegmentIndex.Tr];
        if ((tr.Type & 8) == 0 || tr.Limit < 0x67) throw Gp0();
        ulong bitmapOffset = ReadSystem(tr.Base + 0x66, 2);
        ulong byteOffset = bitmapOffset + (ulong)(port >> 3);
        if (byteOffset + 1 > tr.Limit) throw Gp0();
        ulong bits = ReadSystem(tr.Base + byteOffset, 2);
        ulong mask = ((1UL << size) - 1) << (port & 7);
        if ((bits & mask) != 0) throw Gp0();
    }

    private void BeginIoExit(ushort port, int size, bool isOut, uint count)
    {
        _exitRip = _instructionRip;
        Exit.IoPort = port;
        Exit.IoSize = (byte)size;
        Exit.IoIsOut = isOut;
        Exit.IoCount = count;
        SetExit(CpuExitReason.Io);
    }

    private void ExecuteIn(ref Instruction instruction)
    {
        int size = RegisterSize(instruction.Op0Register);
        ushort port = instruction.Op1Kind == OpKind.Register ? (ushort)Gpr[2] : instruction.Immediate8;
        CheckIoPermission(port, size);
        Array.Clear(IoData, 0, 8);
        _ioElementSize = size;
        _pending = PendingKind.IoIn;
        _retireDeferred = true;
        BeginIoExit(port, size, isOut: false, 1);
    }

    private void ExecuteOut(ref Instruction instruction)
    {
        int size = RegisterSize(instruction.Op1Register);
        ushort port = instruction.Op0Kind == OpKind.Register ? (ushort)Gpr[2] : instruction.Immediate8;
        CheckIoPermission(port, size);
        BitConverter.TryWriteBytes(IoData.AsSpan(0, 4), (uint)Gpr[0]);
        if (DeferOutRetire)
        {
            _pending = PendingKind.IoOut;
            _retireDeferred = true;
        }
        BeginIoExit(port, size, isOut: true, 1);
    }

    private static int StringAddressSize(OpKind kind) => kind switch
    {
        OpKind.MemorySegSI or OpKind.MemorySegDI or OpKind.MemoryESDI => 2,
        OpKind.MemorySegESI or OpKind.MemorySegEDI or OpKind.MemoryESEDI => 4,
        _ => 8,
    };

    /// <summary>How many elements of a REP string I/O fit before the current element's page ends (or starts, going down).</summary>
    private uint ElementsInPage(ulong linear, int size, bool down, ulong limit)
    {
        ulong available = down ? (linear & 0xFFF) / (ulong)size + 1 : (0x1000 - (linear & 0xFFF)) / (ulong)size;
        available = Math.Min(available, (ulong)(IoData.Length / size));
        return (uint)Math.Max(1, Math.Min(available, limit));
    }

    private void ExecuteIns(ref Instruction instruction)
    {
        int size = instruction.Mnemonic switch { Mnemonic.Insb => 1, Mnemonic.Insw => 2, _ => 4 };
        int addressSize = StringAddressSize(instruction.Op0Kind);
        ushort port = (ushort)Gpr[2];
        CheckIoPermission(port, size);
        bool rep = instruction.HasRepPrefix || instruction.HasRepnePrefix;
        ulong counterMask = SizeMask(addressSize);
        ulong counter = Gpr[1] & counterMask;
        if (rep && counter == 0) return;
        bool down = (Rflags & X86.FlagDirection) != 0;
        ulong di = Gpr[7] & counterMask;
        ulong linear = ToLinear((int)SegmentIndex.ES, di, size, AccessKind.Write);
        // Probe the destination before exiting so completion cannot fault.
        byte* host = (linear & 0xFFF) + (ulong)size <= 0x1000 ? TranslateLinear(linear, AccessKind.Write, UserAccess, out _) : null;
        uint count = 1;
        if (rep && host != null)
        {
            count = ElementsInPage(linear, size, down, counter);
            ulong last = down ? di - (ulong)(size * (count - 1)) : di + (ulong)(size * (count - 1));
            if ((last & counterMask) != last) count = 1;
            else ToLinear((int)SegmentIndex.ES, last, size, AccessKind.Write);
        }
        Array.Clear(IoData, 0, (int)count * size);
        _ioElementSize = size;
        _ioAddressSize = addressSize;
        _ioCount = count;
        _ioRep = rep;
        _pending = PendingKind.IoInString;
        _retireDeferred = true;
        BeginIoExit(port, size, isOut: false, count);
    }

    private void ExecuteOuts(ref Instruction instruction)
    {
        int size = instruction.Mnemonic switch { Mnemonic.Outsb => 1, Mnemonic.Outsw => 2, _ => 4 };
        int addressSize = StringAddressSize(instruction.Op1Kind);
        int segment = MemorySegment(ref instruction);
        ushort port = (ushort)Gpr[2];
        CheckIoPermission(port, size);
        bool rep = instruction.HasRepPrefix || instruction.HasRepnePrefix;
        ulong counterMask = SizeMask(addressSize);
        ulong counter = Gpr[1] & counterMask;
        if (rep && counter == 0) return;
        bool down = (Rflags & X86.FlagDirection) != 0;
        ulong si = Gpr[6] & counterMask;
        // One element an exit, as KVM's emulator writes them (it batches only string input).
        const uint count = 1;
        ulong value = ReadMemory(segment, si, size);
        for (int b = 0; b < size; b++) IoData[b] = (byte)(value >> (b * 8));
        ulong offset = (si + (ulong)(down ? -size : size)) & counterMask;
        _ioElementSize = size;
        _ioAddressSize = addressSize;
        _ioCount = count;
        _ioRep = rep;
        BeginIoExit(port, size, isOut: true, count);
        if (DeferOutsRetire)
        {
            _pending = PendingKind.IoOutString;
            _retireDeferred = true;
            return;
        }
        SetIndexRegister(6, offset, addressSize);
        if (rep)
        {
            SetIndexRegister(1, (counter - count) & counterMask, addressSize);
            StopRepeatAfterWriteExit();
        }
    }
}
