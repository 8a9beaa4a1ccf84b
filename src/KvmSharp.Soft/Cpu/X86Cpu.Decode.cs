using Iced.Intel;

namespace KvmSharp.Soft.Cpu;

/// <summary>
/// A run of decoded instructions starting at one guest-physical address, ending at control flow or the page end.
/// The unit a later IL translator would compile.
/// </summary>
internal sealed class DecodedBlock
{
    public required Instruction[] Instructions;
    /// <summary>Parallel to <see cref="Instructions"/>: pre-decoded fast shapes (<see cref="FastKind.None"/> = use the general path).</summary>
    public required FastOp[] FastOps;
    public int Count;
    /// <summary>The code bytes decoded, to notice changes made behind the CPU's back (other vCPUs, the VMM).</summary>
    public required byte[] Bytes;
    public ulong Key;
    public ulong PhysicalPage;
    /// <summary>Cleared when the code under the block is written.</summary>
    public bool Valid = true;
}

/// <summary>Feeds Iced from a host pointer without copying.</summary>
internal sealed unsafe class PointerCodeReader : CodeReader
{
    public byte* Pointer;
    public int Length;
    public int Position;

    public override int ReadByte() => Position < Length ? Pointer[Position++] : -1;
}

public sealed unsafe partial class X86Cpu
{
    private const int MaxBlockInstructions = 64;
    private const int MaxCachedBlocks = 1 << 16;

    private readonly Dictionary<ulong, DecodedBlock> _blocks = new();
    /// <summary>Physical pages holding cached code, with the blocks decoded from each.</summary>
    private readonly Dictionary<ulong, List<DecodedBlock>> _codePages = new();
    private readonly PointerCodeReader _codeReader = new();
    private Decoder? _decoder16, _decoder32, _decoder64;
    private readonly Instruction[] _scratchInstructions = new Instruction[MaxBlockInstructions];
    private readonly byte[] _crossPageBytes = new byte[16];

    /// <summary>Drops every decoded block. The kernel calls it if it rewrites guest code outside the CPU and wants it seen at once.</summary>
    public void InvalidateCodeCache()
    {
        foreach (DecodedBlock block in _blocks.Values) block.Valid = false;
        _blocks.Clear();
        _codePages.Clear();
        _translationGeneration++;
    }

    private struct FastBlockEntry
    {
        public ulong Rip;
        public long Generation;
        public long VerifiedEpoch;
        public DecodedBlock? Block;
        public byte* Host;
    }

    /// <summary>
    /// Code bytes of a cached block are compared with memory once per epoch. The epoch advances at Run entry, at
    /// serializing/mode-changing instructions and at event delivery: the points where the architecture requires a CPU to
    /// notice code modified by another agent (the cross-modifying-code protocol). Own writes invalidate precisely.
    /// </summary>
    private long _verifyEpoch;

    /// <summary>
    /// Blocks by RIP, valid while no translation-affecting state changed (<see cref="_translationGeneration"/>): skips the
    /// TLB and dictionary on the hot path. The code bytes are still compared, so changes by other CPUs or the VMM are seen.
    /// </summary>
    private readonly FastBlockEntry[] _fastBlocks = new FastBlockEntry[4096];

    /// <summary>Bumped by anything that can change RIP→code mapping: TLB flushes, INVLPG, CS/mode/CPL changes.</summary>
    private long _translationGeneration;

    private DecodedBlock LookupBlock()
    {
        ulong rip = Rip;
        ref FastBlockEntry entry = ref _fastBlocks[(int)((rip ^ (rip >> 12)) & 4095)];
        DecodedBlock? block = entry.Block;
        if (entry.Rip == rip && entry.Generation == _translationGeneration && block != null && block.Valid)
        {
            if (entry.VerifiedEpoch == _verifyEpoch)
                return block;
            if (new ReadOnlySpan<byte>(entry.Host, block.Bytes.Length).SequenceEqual(block.Bytes))
            {
                entry.VerifiedEpoch = _verifyEpoch;
                return block;
            }
        }
        block = FetchBlock(out byte* host);
        if (block.Key != ulong.MaxValue)
        {
            entry.Rip = rip;
            entry.Generation = _translationGeneration;
            entry.VerifiedEpoch = _verifyEpoch;
            entry.Block = block;
            entry.Host = host;
        }
        return block;
    }

    /// <summary>A write reached a physical page: decoded code from it is stale.</summary>
    private void NoteWrite(ulong physicalPage)
    {
        if (_codePages.Count == 0 || !_codePages.Remove(physicalPage, out List<DecodedBlock>? blocks))
            return;
        foreach (DecodedBlock block in blocks)
        {
            block.Valid = false;
            _blocks.Remove(block.Key);
        }
        // The current block may be the one just overwritten: finish it here and refetch.
        _endBlock = true;
    }

    private Decoder DecoderFor(int bitness)
    {
        return bitness switch
        {
            64 => _decoder64 ??= Decoder.Create(64, _codeReader, DecoderOptions.None),
            32 => _decoder32 ??= Decoder.Create(32, _codeReader, DecoderOptions.None),
            _ => _decoder16 ??= Decoder.Create(16, _codeReader, DecoderOptions.None),
        };
    }

    private DecodedBlock FetchBlock(out byte* codeHost)
    {
        ulong linear = LinearRip();
        if (!_mode64 && _protectedMode)
        {
            ref SegmentCache cs = ref Segments[(int)SegmentIndex.CS];
            if (Rip > cs.Limit) throw Gp0();
        }
        byte* host = TranslateLinear(linear, AccessKind.Execute, _cpl == 3, out ulong physical);
        if (host == null)
        {
            byte* page = _memory.GetHostPage(physical & ~0xFFFUL, false);
            if (page == null)
                throw new UnsupportedInstructionException($"instruction fetch from non-RAM guest-physical 0x{physical:x}");
            host = page + (physical & 0xFFF);
        }
        codeHost = host;
        ulong key = physical | ((ulong)_bitness << 56);
        if (_blocks.TryGetValue(key, out DecodedBlock? cached))
        {
            if (new ReadOnlySpan<byte>(host, cached.Bytes.Length).SequenceEqual(cached.Bytes))
                return cached;
            NoteWrite(physical & ~0xFFFUL);
            _endBlock = false;
        }
        return DecodeBlock(host, linear, physical, key);
    }

    private DecodedBlock DecodeBlock(byte* host, ulong linear, ulong physical, ulong key)
    {
        int available = (int)(0x1000 - (physical & 0xFFF));
        Decoder decoder = DecoderFor(_bitness);
        _codeReader.Pointer = host;
        _codeReader.Length = available;
        _codeReader.Position = 0;
        decoder.IP = Rip;
        int count = 0;
        while (count < MaxBlockInstructions)
        {
            int start = _codeReader.Position;
            decoder.Decode(out _scratchInstructions[count]);
            ref Instruction instruction = ref _scratchInstructions[count];
            if (instruction.IsInvalid && decoder.LastError == DecoderError.NoMoreBytes)
            {
                if (count == 0)
                    return DecodeCrossPage(host, available, linear);
                _codeReader.Position = start;
                break;
            }
            count++;
            if (instruction.IsInvalid || instruction.FlowControl != FlowControl.Next)
                break;
        }

        var block = new DecodedBlock
        {
            Instructions = _scratchInstructions.AsSpan(0, count).ToArray(),
            FastOps = BuildFastOps(_scratchInstructions, count),
            Count = count,
            Bytes = new ReadOnlySpan<byte>(host, _codeReader.Position).ToArray(),
            Key = key,
            PhysicalPage = physical & ~0xFFFUL,
        };
        if (_blocks.Count >= MaxCachedBlocks)
            InvalidateCodeCache();
        _blocks[key] = block;
        if (!_codePages.TryGetValue(block.PhysicalPage, out List<DecodedBlock>? pageBlocks))
        {
            pageBlocks = new List<DecodedBlock>();
            _codePages[block.PhysicalPage] = pageBlocks;
            RevokeWriteAccess(block.PhysicalPage);
        }
        pageBlocks.Add(block);
        return block;
    }

    /// <summary>An instruction straddling two pages is decoded every time and never cached.</summary>
    private DecodedBlock DecodeCrossPage(byte* host, int available, ulong linear)
    {
        ulong secondLinear = (linear + (ulong)available) & LinearMask;
        byte* second = TranslateLinear(secondLinear, AccessKind.Execute, _cpl == 3, out ulong secondPhysical);
        if (second == null)
        {
            byte* page = _memory.GetHostPage(secondPhysical & ~0xFFFUL, false);
            if (page == null)
                throw new UnsupportedInstructionException($"instruction fetch from non-RAM guest-physical 0x{secondPhysical:x}");
            second = page + (secondPhysical & 0xFFF);
        }
        for (int i = 0; i < 15; i++)
            _crossPageBytes[i] = i < available ? host[i] : second[i - available];
        Decoder decoder = DecoderFor(_bitness);
        fixed (byte* bytes = _crossPageBytes)
        {
            _codeReader.Pointer = bytes;
            _codeReader.Length = 15;
            _codeReader.Position = 0;
            decoder.IP = Rip;
            decoder.Decode(out Instruction instruction);
            return new DecodedBlock { Instructions = [instruction], FastOps = [new FastOp { Length = (byte)instruction.Length }], Count = 1, Bytes = [], Key = ulong.MaxValue };
        }
    }
}
