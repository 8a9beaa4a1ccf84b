using KvmSharp.Abi;

namespace KvmSharp.Vmm.Boot;

/// <summary>The segment and control registers of each <see cref="EntryMode"/>.</summary>
public static class EntryState
{
    /// <summary>
    /// Sets the mode's segments, descriptor tables, control registers and EFER on
    /// <paramref name="sregs"/>; it should come from KVM_GET_SREGS so that the
    /// fields a boot does not own (APIC base, pending interrupts) keep their values.
    /// </summary>
    public static void ApplyTo(EntryMode mode, ref KvmSregs sregs)
    {
        bool longMode = mode == EntryMode.Long64;
        sregs.Cs = BootGdt.SegmentCache(longMode ? BootGdt.Code64Selector : BootGdt.Code32Selector);
        sregs.Ds = sregs.Es = sregs.Fs = sregs.Gs = sregs.Ss = BootGdt.SegmentCache(BootGdt.DataSelector);
        sregs.Tr = BootGdt.SegmentCache(BootGdt.TssSelector);
        sregs.Ldt = new KvmSegment { Type = 2, Unusable = 1 };
        sregs.Gdt = new KvmDtable { Base = GuestMemoryLayout.GdtAddress, Limit = BootGdt.Size - 1 };
        sregs.Idt = default;
        sregs.Cr2 = 0;
        if (longMode)
        {
            sregs.Cr0 = Cr0Pe | Cr0Mp | Cr0Et | Cr0Ne | Cr0Pg;
            sregs.Cr3 = IdentityPageTables.Pml4Address;
            sregs.Cr4 = Cr4Pae;
            sregs.Efer = EferLme | EferLma;
        }
        else
        {
            sregs.Cr0 = Cr0Pe | Cr0Et;
            sregs.Cr3 = 0;
            sregs.Cr4 = 0;
            sregs.Efer = 0;
        }
    }

    private const ulong Cr0Pe = 1UL << 0, Cr0Mp = 1UL << 1, Cr0Et = 1UL << 4, Cr0Ne = 1UL << 5, Cr0Pg = 1UL << 31;
    private const ulong Cr4Pae = 1UL << 5;
    private const ulong EferLme = 1UL << 8, EferLma = 1UL << 10;
}
