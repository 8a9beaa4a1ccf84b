using System.Buffers.Binary;
using KvmSharp.Abi;

namespace KvmSharp.Vmm.Guests;

/// <summary>Who may touch an identity-mapped page.</summary>
[Flags]
public enum PageAccess
{
    /// <summary>Ring 0 only, read and execute (CR0.WP makes it read-only for ring 0 too).</summary>
    KernelReadOnly = 0,
    Writable = 1,
    User = 2,
    KernelWritable = Writable,
    UserReadOnly = User,
    UserWritable = User | Writable,
}

/// <summary>
/// Builds what a guest needs to start directly in 64-bit long mode, the way the
/// kernel's KVM selftests do, with no real-to-protected-mode switch in the
/// guest: identity-mapped 4-level page tables with per-page user/write rights,
/// a GDT with kernel and user segments and a 64-bit TSS, an IDT, and the
/// KVM_SET_SREGS state whose hidden segment caches match those descriptors.
/// </summary>
/// <remarks>
/// The system area at <see cref="SystemAreaBase"/> holds, one page each: the
/// GDT (with an IDTR pseudo-descriptor after it), the TSS, the IDT, then
/// <c>pageTablePages</c> pages for page tables. All of it is supervisor-only.
/// Accessed and dirty bits are preset in every descriptor and page-table entry
/// so that the CPU (or an instruction emulator) never has to write them back.
/// </remarks>
public sealed class LongModeSetup
{
    public const ulong PageSize = 0x1000;

    // The selectors of Linux's x86-64 GDT (asm/segment.h). Upstream PVM runs
    // guest ring 3 on the host's own user segments and refuses a guest STAR
    // whose user selectors differ from Linux's; the kvm_pvm of this project's
    // machines accepts others, but matching Linux costs nothing.
    public const ushort KernelCodeSelector = 0x10;
    public const ushort KernelDataSelector = 0x18;
    /// <summary>32-bit user code; SYSRET derives its selectors from here, so it is STAR[63:48].</summary>
    public const ushort UserCode32Selector = 0x20 | 3;
    public const ushort UserDataSelector = 0x28 | 3;
    public const ushort UserCodeSelector = 0x30 | 3;
    public const ushort TssSelector = 0x40;

    /// <summary>STAR as SYSCALL/SYSRET need it with this GDT.</summary>
    public const ulong StarValue = ((ulong)UserCode32Selector << 48) | ((ulong)KernelCodeSelector << 32);

    private const int GdtEntries = 10; // null, unused, kernel code, kernel data, user code32, user data, user code, unused, TSS (two slots)
    private const int TssSize = 104;
    private const int IdtEntries = 256;

    private readonly SortedDictionary<ulong, byte[]> _pages = new();
    private ulong _nextTablePage;

    /// <param name="memorySize">Guest RAM size (from guest-physical 0), a multiple of 4 KiB.</param>
    /// <param name="systemAreaBase">Where the GDT, TSS, IDT and page tables go, page-aligned.</param>
    /// <param name="pageTablePages">Pages reserved for page tables (each maps 2 MiB; four cover a small guest).</param>
    public LongModeSetup(ulong memorySize, ulong systemAreaBase = 0x1000, int pageTablePages = 8)
    {
        if (memorySize == 0 || memorySize % PageSize != 0)
            throw new ArgumentOutOfRangeException(nameof(memorySize), $"Guest RAM must be a non-zero multiple of 4 KiB; 0x{memorySize:x} is not.");
        if (systemAreaBase % PageSize != 0)
            throw new ArgumentOutOfRangeException(nameof(systemAreaBase), $"The system area must be page-aligned; 0x{systemAreaBase:x} is not.");
        if (pageTablePages < 4)
            throw new ArgumentOutOfRangeException(nameof(pageTablePages), "4-level paging needs at least four table pages.");
        MemorySize = memorySize;
        SystemAreaBase = systemAreaBase;
        PageTableAreaPages = pageTablePages;
        if (SystemAreaEnd > memorySize)
            throw new ArgumentOutOfRangeException(nameof(memorySize), $"The system area ends at 0x{SystemAreaEnd:x}, beyond 0x{memorySize:x} bytes of RAM.");

        _nextTablePage = Pml4Address;
        AllocateTablePage(); // the PML4
        Map(SystemAreaBase, SystemAreaEnd - SystemAreaBase, PageAccess.KernelReadOnly);
        WriteGdt();
        WriteIdtPseudoDescriptor();
    }

    public ulong MemorySize { get; }

    public ulong SystemAreaBase { get; }

    public int PageTableAreaPages { get; }

    public ulong GdtAddress => SystemAreaBase;

    /// <summary>A 10-byte pseudo-descriptor (limit, base) of the IDT, for the guest's own LIDT.</summary>
    public ulong IdtPseudoDescriptorAddress => GdtAddress + GdtEntries * 8;

    public ulong TssAddress => SystemAreaBase + PageSize;

    public ulong IdtAddress => SystemAreaBase + 2 * PageSize;

    public ulong Pml4Address => SystemAreaBase + 3 * PageSize;

    public ulong SystemAreaEnd => Pml4Address + (ulong)PageTableAreaPages * PageSize;

    public ushort GdtLimit => GdtEntries * 8 - 1;

    public ushort IdtLimit => IdtEntries * 16 - 1;

    /// <summary>TSS.RSP0: the stack the CPU switches to when an interrupt or exception arrives in ring 3.</summary>
    public ulong KernelStackTop
    {
        get => BinaryPrimitives.ReadUInt64LittleEndian(Slice(TssAddress + 4, 8));
        set => BinaryPrimitives.WriteUInt64LittleEndian(Slice(TssAddress + 4, 8), value);
    }

    /// <summary>Identity-maps every page that overlaps [address, address + length) with <paramref name="access"/>.</summary>
    public void Map(ulong address, ulong length, PageAccess access)
    {
        CheckRange(address, length);
        ulong first = address & ~(PageSize - 1);
        for (ulong page = first; page < address + length; page += PageSize)
            MapPage(page, access);
    }

    /// <summary>
    /// Identity-maps device memory outside RAM (e.g. the local APIC page at
    /// 0xFEE00000), supervisor and writable; only the page tables live in RAM.
    /// </summary>
    public void MapDevice(ulong address, ulong length)
    {
        if (address + length < address || address + length > 1UL << 48)
            throw new ArgumentOutOfRangeException(nameof(address), $"0x{address:x}+0x{length:x} is not a canonical lower-half range.");
        ulong first = address & ~(PageSize - 1);
        for (ulong page = first; page < address + length; page += PageSize)
            MapPage(page, PageAccess.KernelWritable);
    }

    /// <summary>Writes <paramref name="bytes"/> at <paramref name="address"/> and identity-maps the pages they cover.</summary>
    public void Place(ulong address, ReadOnlySpan<byte> bytes, PageAccess access)
    {
        Write(address, bytes);
        Map(address, (ulong)bytes.Length, access);
    }

    /// <summary>Assembles <paramref name="code"/> for <paramref name="address"/> and places it there.</summary>
    public AssembledCode PlaceCode(ulong address, Iced.Intel.Assembler code, PageAccess access)
    {
        var assembled = AssembledCode.Assemble(code, address);
        Place(address, assembled.Bytes, access);
        return assembled;
    }

    /// <summary>Writes <paramref name="bytes"/> into guest RAM at <paramref name="address"/> without touching the page tables.</summary>
    public void Write(ulong address, ReadOnlySpan<byte> bytes)
    {
        CheckRange(address, (ulong)bytes.Length);
        while (!bytes.IsEmpty)
        {
            ulong offsetInPage = address % PageSize;
            int chunk = (int)Math.Min((ulong)bytes.Length, PageSize - offsetInPage);
            bytes[..chunk].CopyTo(PageOf(address).AsSpan((int)offsetInPage));
            bytes = bytes[chunk..];
            address += (ulong)chunk;
        }
    }

    /// <summary>
    /// Points IDT entry <paramref name="vector"/> at <paramref name="handler"/> as a
    /// 64-bit interrupt gate (IF cleared on entry) in the kernel code segment.
    /// </summary>
    /// <param name="dpl">The lowest privilege allowed to raise the vector with INT n; 0 for exceptions.</param>
    public void SetInterruptGate(int vector, ulong handler, int dpl = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(vector);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(vector, IdtEntries);
        ArgumentOutOfRangeException.ThrowIfNegative(dpl);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(dpl, 3);
        Span<byte> gate = Slice(IdtAddress + (ulong)vector * 16, 16);
        gate.Clear();
        BinaryPrimitives.WriteUInt16LittleEndian(gate, (ushort)handler);
        BinaryPrimitives.WriteUInt16LittleEndian(gate[2..], KernelCodeSelector);
        gate[5] = (byte)(0x80 | (dpl << 5) | 0xE); // present, DPL, 64-bit interrupt gate
        BinaryPrimitives.WriteUInt16LittleEndian(gate[6..], (ushort)(handler >> 16));
        BinaryPrimitives.WriteUInt32LittleEndian(gate[8..], (uint)(handler >> 32));
    }

    /// <summary>The RAM content built so far.</summary>
    public GuestImage BuildImage() =>
        new(MemorySize, _pages.Select(p => new GuestSegment(p.Key, (byte[])p.Value.Clone())));

    /// <summary>
    /// Sets the long-mode state on <paramref name="sregs"/>, which should come from
    /// KVM_GET_SREGS so that the fields this setup does not own (APIC base,
    /// pending interrupts) keep the kernel's values.
    /// </summary>
    /// <param name="loadIdt">
    /// Whether the host loads IDTR too; leave it false when the guest runs LIDT
    /// from <see cref="IdtPseudoDescriptorAddress"/> itself.
    /// </param>
    public void ApplyTo(ref KvmSregs sregs, bool loadIdt = false)
    {
        sregs.Cs = SegmentCache(KernelCodeSelector);
        sregs.Ds = sregs.Es = sregs.Fs = sregs.Gs = sregs.Ss = SegmentCache(KernelDataSelector);
        sregs.Tr = SegmentCache(TssSelector);
        sregs.Ldt = new KvmSegment { Type = 2, Unusable = 1 };
        sregs.Gdt = new KvmDtable { Base = GdtAddress, Limit = GdtLimit };
        sregs.Idt = loadIdt ? new KvmDtable { Base = IdtAddress, Limit = IdtLimit } : default;
        sregs.Cr0 = X86.Cr0Pe | X86.Cr0Mp | X86.Cr0Et | X86.Cr0Ne | X86.Cr0Wp | X86.Cr0Pg;
        sregs.Cr2 = 0;
        sregs.Cr3 = Pml4Address;
        sregs.Cr4 = X86.Cr4Pae | X86.Cr4Osfxsr | X86.Cr4Osxmmexcpt;
        sregs.Efer = X86.EferLme | X86.EferLma;
    }

    /// <summary>Registers for the first instruction: ring 0 at <paramref name="rip"/>, interrupts off.</summary>
    public static KvmRegs InitialRegs(ulong rip, ulong rsp) => new() { Rip = rip, Rsp = rsp, Rflags = X86.RflagsFixed };

    /// <summary>
    /// The hidden part of a segment register as the CPU would load it from this
    /// GDT, so that the state KVM_SET_SREGS installs equals what a real load gives.
    /// </summary>
    public KvmSegment SegmentCache(ushort selector)
    {
        int index = selector >> 3;
        bool isSegment = index is >= 2 and <= 6;
        if (!isSegment && selector != TssSelector)
            throw new ArgumentOutOfRangeException(nameof(selector), $"Selector 0x{selector:x} names no descriptor of this GDT.");
        ulong descriptor = BinaryPrimitives.ReadUInt64LittleEndian(Slice(GdtAddress + (ulong)index * 8, 8));
        byte access = (byte)(descriptor >> 40);
        byte flags = (byte)((descriptor >> 52) & 0xF);
        bool granular = (flags & 8) != 0;
        uint rawLimit = (uint)(descriptor & 0xFFFF) | (uint)((descriptor >> 32) & 0xF_0000);
        ulong baseAddress = ((descriptor >> 16) & 0xFF_FFFF) | (((descriptor >> 56) & 0xFF) << 24);
        if (selector == TssSelector)
            baseAddress |= (ulong)BinaryPrimitives.ReadUInt32LittleEndian(Slice(GdtAddress + (ulong)index * 8 + 8, 4)) << 32;
        return new KvmSegment
        {
            Base = baseAddress,
            Limit = granular ? (rawLimit << 12) | 0xFFF : rawLimit,
            Selector = selector,
            Type = (byte)(access & 0xF),
            Present = (byte)(access >> 7),
            Dpl = (byte)((access >> 5) & 3),
            S = (byte)((access >> 4) & 1),
            Db = (byte)((flags >> 2) & 1),
            L = (byte)((flags >> 1) & 1),
            G = granular ? (byte)1 : (byte)0,
            Avl = (byte)(flags & 1),
        };
    }

    private void WriteGdt()
    {
        Span<byte> gdt = Slice(GdtAddress, GdtEntries * 8);
        // Access bytes: present, DPL, code/data, type with the accessed bit set. Flags: G, D/B, L.
        WriteSegmentDescriptor(gdt, KernelCodeSelector, access: 0x9B, flags: 0xA);
        WriteSegmentDescriptor(gdt, KernelDataSelector, access: 0x93, flags: 0xC);
        WriteSegmentDescriptor(gdt, UserCode32Selector, access: 0xFB, flags: 0xC);
        WriteSegmentDescriptor(gdt, UserDataSelector, access: 0xF3, flags: 0xC);
        WriteSegmentDescriptor(gdt, UserCodeSelector, access: 0xFB, flags: 0xA);

        // The TSS descriptor is marked busy: KVM_SET_SREGS loads TR as if LTR had run.
        Span<byte> tss = gdt[TssSelector..];
        ulong tssBase = TssAddress;
        ulong low = (TssSize - 1) | ((tssBase & 0xFF_FFFF) << 16) | (0x8BUL << 40) | (((tssBase >> 24) & 0xFF) << 56);
        BinaryPrimitives.WriteUInt64LittleEndian(tss, low);
        BinaryPrimitives.WriteUInt64LittleEndian(tss[8..], tssBase >> 32);

        // No I/O permission bitmap: the map base lies past the limit, so ring 3 cannot reach ports.
        BinaryPrimitives.WriteUInt16LittleEndian(Slice(TssAddress + 0x66, 2), TssSize);
    }

    private static void WriteSegmentDescriptor(Span<byte> gdt, ushort selector, byte access, byte flags)
    {
        ulong descriptor = 0xFFFF | (0xFUL << 48) | ((ulong)access << 40) | ((ulong)flags << 52);
        BinaryPrimitives.WriteUInt64LittleEndian(gdt[(selector & ~7)..], descriptor);
    }

    private void WriteIdtPseudoDescriptor()
    {
        Span<byte> pseudo = Slice(IdtPseudoDescriptorAddress, 10);
        BinaryPrimitives.WriteUInt16LittleEndian(pseudo, IdtLimit);
        BinaryPrimitives.WriteUInt64LittleEndian(pseudo[2..], IdtAddress);
    }

    private void MapPage(ulong address, PageAccess access)
    {
        ulong table = Pml4Address;
        for (int shift = 39; shift > 12; shift -= 9)
        {
            Span<byte> entry = Slice(table + ((address >> shift) & 0x1FF) * 8, 8);
            ulong value = BinaryPrimitives.ReadUInt64LittleEndian(entry);
            if ((value & X86.PtePresent) == 0)
            {
                // Upper levels grant everything; the leaf alone decides the rights.
                value = AllocateTablePage() | X86.PtePresent | X86.PteWritable | X86.PteUser | X86.PteAccessed;
                BinaryPrimitives.WriteUInt64LittleEndian(entry, value);
            }
            table = value & 0x000F_FFFF_FFFF_F000;
        }
        ulong leaf = address | X86.PtePresent | X86.PteAccessed | X86.PteDirty;
        if (access.HasFlag(PageAccess.Writable))
            leaf |= X86.PteWritable;
        if (access.HasFlag(PageAccess.User))
            leaf |= X86.PteUser;
        BinaryPrimitives.WriteUInt64LittleEndian(Slice(table + ((address >> 12) & 0x1FF) * 8, 8), leaf);
    }

    private ulong AllocateTablePage()
    {
        if (_nextTablePage >= SystemAreaEnd)
            throw new InvalidOperationException($"The {PageTableAreaPages} page-table pages at 0x{Pml4Address:x} are used up; reserve more.");
        ulong page = _nextTablePage;
        _nextTablePage += PageSize;
        PageOf(page);
        return page;
    }

    private Span<byte> Slice(ulong address, int length)
    {
        if (address % PageSize + (ulong)length > PageSize)
            throw new InvalidOperationException($"Internal: 0x{address:x}+{length} crosses a page.");
        return PageOf(address).AsSpan((int)(address % PageSize), length);
    }

    private byte[] PageOf(ulong address)
    {
        ulong page = address & ~(PageSize - 1);
        if (!_pages.TryGetValue(page, out var bytes))
            _pages[page] = bytes = new byte[PageSize];
        return bytes;
    }

    private void CheckRange(ulong address, ulong length)
    {
        if (address > MemorySize || length > MemorySize - address)
            throw new ArgumentOutOfRangeException(nameof(address), $"0x{address:x}+0x{length:x} lies outside 0x{MemorySize:x} bytes of guest RAM.");
    }
}
