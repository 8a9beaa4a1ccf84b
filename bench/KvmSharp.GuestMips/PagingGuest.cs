using System.Buffers.Binary;
using Iced.Intel;
using KvmSharp.Abi;
using static Iced.Intel.AssemblerRegisters;

namespace KvmSharp.GuestMips;

/// <summary>
/// The paging workload: a CPL-3 loop that adds 1 to one quadword in each of <c>pages</c> 4 KiB pages, mapped by
/// 4-level tables (PML4 → PDPT → PD → PT) with 4 KiB pages, for R rounds. With thousands of pages every access
/// misses the TLB, so the engine's page walks (or, on Host, the processor's) are what is measured.
/// </summary>
/// <remarks>
/// The loop is 2 + 4·pages + 2 instructions a round (<see cref="InstructionsPerRound"/>); a prologue that zeroes the
/// words, a check that every
/// word equals R (it prints <c>PAGING-OK</c> to port 0xE9 only then) and the stop OUT to 0xF4 are the same for every R,
/// so MIPS from two round counts counts the loop alone. The same bytes run on Host and Soft (entered at
/// <see cref="UserCode"/> in 64-bit mode at CPL 3) and under QEMU as a multiboot image whose 32-bit stub enters long
/// mode and drops to CPL 3 with IRETQ (<see cref="BuildMultibootImage"/>).
/// Physical layout (identity-mapped below 2 MiB with user pages): TSS with an all-allowing I/O bitmap at 0x5000 (kvm_pvm
/// checks it even at IOPL 3), image at 1 MiB (header, stub 0x100040, long-mode stub 0x100200, user code 0x100400, GDT
/// 0x100800, tables 0x101000–), user stack below 0x90000; the touched pages at linear 1 GiB, physical 16 MiB and up.
/// </remarks>
internal static class PagingGuest
{
    public const ulong MemoryBytes = 64UL << 20;
    public const int MaxPages = 12 * 1024;
    public const ushort OutputPort = 0xE9, StopPort = 0xF4;
    public const string SuccessText = "PAGING-OK";

    private const uint ImageBase = 0x10_0000, Stub32 = 0x10_0040, Stub64 = 0x10_0200, UserCode = 0x10_0400;
    private const uint Gdt = 0x10_0800, GdtPointer = 0x10_0900;
    private const uint Pml4 = 0x10_1000, Pdpt = 0x10_2000, PdLow = 0x10_3000, PdData = 0x10_4000, PtLow = 0x10_5000, PtData = 0x10_6000;
    private const ulong DataLinear = 0x4000_0000, DataPhysical = 0x100_0000, UserStack = 0x8_FFF8, KernelStack = 0x9_0000;
    private const ushort KernelCs = 0x08, KernelDs = 0x10, UserDs = 0x1B, UserCs = 0x23;

    public static double InstructionsPerRound(int pages) => 4.0 * pages + 4;

    public static void Validate(int rounds, int pages)
    {
        if (rounds < 1) throw new ArgumentException($"Rounds must be at least 1 (got {rounds}).");
        if (pages < 1 || pages > MaxPages || pages % 512 != 0)
            throw new ArgumentException($"Pages must be a multiple of 512 between 512 and {MaxPages} (got {pages}).");
    }

    /// <summary>Guest RAM for Host and Soft: the image at 1 MiB plus the TSS kvm_pvm needs.</summary>
    public static void Load(Span<byte> ram, int pages)
    {
        ram.Clear();
        BuildImage(pages, rounds: 1).CopyTo(ram[(int)ImageBase..]);
        BinaryPrimitives.WriteUInt16LittleEndian(ram[(0x5000 + 0x66)..], 0x68);
        ram[0x7068] = 0xff;
    }

    public static void SetRegisters(Vcpu vcpu, int rounds, int pages)
    {
        var sregs = vcpu.GetSregs();
        sregs.Cs = new KvmSegment { Selector = UserCs, Limit = 0xffffffff, Type = 11, Present = 1, Dpl = 3, S = 1, L = 1, G = 1 };
        var data = new KvmSegment { Selector = UserDs, Limit = 0xffffffff, Type = 3, Present = 1, Dpl = 3, S = 1, Db = 1, G = 1 };
        sregs.Ds = sregs.Es = sregs.Fs = sregs.Gs = sregs.Ss = data;
        sregs.Tr = new KvmSegment { Selector = 0x30, Base = 0x5000, Limit = 0x2068, Type = 11, Present = 1 };
        sregs.Ldt = new KvmSegment { Type = 2, Unusable = 1 };
        sregs.Cr0 = 0x80050033;
        sregs.Cr3 = Pml4;
        sregs.Cr4 = 0x620;
        sregs.Efer = 0x500;
        vcpu.SetSregs(sregs);
        vcpu.SetRegs(new KvmRegs { Rip = UserCode, Rsp = UserStack, Rdi = (ulong)rounds, Rsi = (ulong)pages, Rbx = DataLinear, Rflags = 0x3002 });
    }

    /// <summary>The multiboot (a.out kludge) image QEMU loads at 1 MiB; <paramref name="rounds"/> is built into its stub.</summary>
    public static byte[] BuildMultibootImage(int rounds, int pages) => BuildImage(pages, rounds);

    private static byte[] BuildImage(int pages, int rounds)
    {
        Validate(rounds, pages);
        int tables = pages / 512;
        var image = new byte[PtData + tables * 0x1000 - ImageBase];
        void Put(uint address, ReadOnlySpan<byte> bytes) => bytes.CopyTo(image.AsSpan((int)(address - ImageBase)));
        void Put64(uint address, ulong value) => BinaryPrimitives.WriteUInt64LittleEndian(image.AsSpan((int)(address - ImageBase)), value);
        void Put32(uint address, uint value) => BinaryPrimitives.WriteUInt32LittleEndian(image.AsSpan((int)(address - ImageBase)), value);

        // Multiboot header: magic, flags (bit 16: the address fields below are valid), checksum, then the addresses.
        const uint magic = 0x1BADB002, flags = 1 << 16;
        Put32(ImageBase, magic);
        Put32(ImageBase + 4, flags);
        Put32(ImageBase + 8, unchecked(0u - magic - flags));
        Put32(ImageBase + 12, ImageBase);          // header_addr
        Put32(ImageBase + 16, ImageBase);          // load_addr
        Put32(ImageBase + 20, 0);                  // load_end_addr: the whole file
        Put32(ImageBase + 24, 0);                  // bss_end_addr: none
        Put32(ImageBase + 28, Stub32);             // entry_addr

        Put(Stub32, Assemble32BitStub());
        Put(Stub64, AssembleLongModeStub(rounds, pages));
        Put(UserCode, AssembleUserLoop());

        Put64(Gdt + KernelCs, 0x00AF_9A00_0000_FFFF);
        Put64(Gdt + KernelDs, 0x00CF_9200_0000_FFFF);
        Put64(Gdt + (UserDs & ~3), 0x00CF_F200_0000_FFFF);
        Put64(Gdt + (UserCs & ~3), 0x00AF_FA00_0000_FFFF);
        BinaryPrimitives.WriteUInt16LittleEndian(image.AsSpan((int)(GdtPointer - ImageBase)), 0x27);
        Put32(GdtPointer + 2, Gdt);

        const ulong present = 1, writable = 2, user = 4, accessed = 0x20, dirty = 0x40, table = present | writable | user;
        Put64(Pml4, Pdpt | table);
        Put64(Pdpt, PdLow | table);                // 0–1 GiB
        Put64(Pdpt + 8, PdData | table);           // 1–2 GiB: the touched pages
        Put64(PdLow, PtLow | table);
        for (uint i = 0; i < 512; i++)
            Put64(PtLow + i * 8, ((ulong)i << 12) | present | writable | user | accessed | dirty);
        for (uint t = 0; t < tables; t++)
        {
            uint pageTable = PtData + t * 0x1000;
            Put64(PdData + t * 8, pageTable | table);
            for (uint i = 0; i < 512; i++)
                Put64(pageTable + i * 8, (DataPhysical + (((ulong)t * 512 + i) << 12)) | present | writable | user);
        }
        return image;
    }

    /// <summary>32-bit protected mode, paging off (multiboot's state): PAE, CR3, EFER.LME, paging, then a far jump to 64-bit code.</summary>
    private static byte[] Assemble32BitStub()
    {
        var a = new Assembler(32);
        a.mov(eax, Pml4);
        a.mov(cr3, eax);
        a.mov(eax, cr4);
        a.or(eax, 0x20);
        a.mov(cr4, eax);
        a.mov(ecx, 0xC000_0080);
        a.rdmsr();
        a.or(eax, 0x100);
        a.wrmsr();
        a.mov(eax, cr0);
        a.or(eax, unchecked((int)0x8000_0001));
        a.mov(cr0, eax);
        a.lgdt(__[GdtPointer]);
        // jmp far KernelCs:Stub64
        a.db(0xEA);
        a.dd(Stub64);
        a.dw(KernelCs);
        return Encode(a, Stub32);
    }

    /// <summary>64-bit mode at CPL 0: data segments, then IRETQ to the user loop at CPL 3 with IOPL 3 and its registers.</summary>
    private static byte[] AssembleLongModeStub(int rounds, int pages)
    {
        var a = new Assembler(64);
        a.mov(ax, KernelDs);
        a.mov(ds, ax);
        a.mov(es, ax);
        a.mov(ss, ax);
        a.mov(rsp, KernelStack);
        a.push(UserDs);
        a.push((int)UserStack);
        a.push(0x3002);
        a.push(UserCs);
        a.push((int)UserCode);
        a.mov(edi, rounds);
        a.mov(esi, pages);
        a.mov(ebx, (uint)DataLinear);
        a.iretq();
        return Encode(a, Stub64);
    }

    /// <summary>The measured loop, the check and the stop (rdi = rounds, rsi = pages, rbx = first page).</summary>
    private static byte[] AssembleUserLoop()
    {
        var a = new Assembler(64);
        Label clear = a.CreateLabel(), outer = a.CreateLabel(), inner = a.CreateLabel(), check = a.CreateLabel(), stop = a.CreateLabel();
        a.mov(r8, rdi);
        // Firmware leaves data in high memory under QEMU: start every word at 0.
        a.mov(rax, rbx);
        a.mov(rcx, rsi);
        a.Label(ref clear);
        a.mov(__qword_ptr[rax], 0);
        a.add(rax, 0x1000);
        a.dec(rcx);
        a.jne(clear);
        a.Label(ref outer);
        a.mov(rax, rbx);
        a.mov(rcx, rsi);
        a.Label(ref inner);
        a.add(__qword_ptr[rax], 1);
        a.add(rax, 0x1000);
        a.dec(rcx);
        a.jne(inner);
        a.dec(rdi);
        a.jne(outer);
        a.mov(rax, rbx);
        a.mov(rcx, rsi);
        a.Label(ref check);
        a.cmp(__qword_ptr[rax], r8);
        a.jne(stop);
        a.add(rax, 0x1000);
        a.dec(rcx);
        a.jne(check);
        foreach (char c in SuccessText + "\n")
        {
            a.mov(al, (byte)c);
            a.@out((byte)OutputPort, al);
        }
        a.Label(ref stop);
        a.xor(eax, eax); // QEMU's isa-debug-exit turns the value 0 into exit status 1, as for the reference guest
        a.@out((byte)StopPort, al);
        a.hlt();
        return Encode(a, UserCode);
    }

    private static byte[] Encode(Assembler assembler, ulong address)
    {
        var stream = new MemoryStream();
        assembler.Assemble(new StreamCodeWriter(stream), address);
        return stream.ToArray();
    }
}
