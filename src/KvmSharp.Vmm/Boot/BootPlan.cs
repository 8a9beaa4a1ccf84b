using KvmSharp.Abi;
using KvmSharp.Vmm.Memory;

namespace KvmSharp.Vmm.Boot;

/// <summary>
/// Everything a runner does to start a kernel: bytes to write into guest RAM,
/// the vCPU 0 registers (KVM_SET_REGS, and KVM_SET_SREGS through
/// <see cref="ApplyTo"/>), and the memory map the kernel was told about.
/// </summary>
public sealed class BootPlan
{
    public BootPlan(GuestMemoryLayout layout, EntryMode entryMode, KvmRegs regs, IEnumerable<BootWrite> writes, IReadOnlyList<E820Entry> memoryMap)
    {
        Layout = layout;
        EntryMode = entryMode;
        Regs = regs;
        Writes = writes.OrderBy(w => w.Address).ToArray();
        MemoryMap = memoryMap;
        for (int i = 0; i < Writes.Count; i++)
        {
            var write = Writes[i];
            if (!IsRam(write.Address, (ulong)write.Bytes.Length))
                throw new BootImageException($"{write.What} at [0x{write.Address:x}, 0x{write.End:x}) is not in guest RAM (0x{layout.MemorySize:x} bytes).");
            if (i > 0 && Writes[i - 1].End > write.Address)
                throw new BootImageException($"{Writes[i - 1].What} at [0x{Writes[i - 1].Address:x}, 0x{Writes[i - 1].End:x}) overlaps {write}.");
        }
    }

    public GuestMemoryLayout Layout { get; }

    public EntryMode EntryMode { get; }

    /// <summary>The general-purpose registers for KVM_SET_REGS on vCPU 0 (RIP, RSI or RBX, RSP, RFLAGS).</summary>
    public KvmRegs Regs { get; }

    /// <summary>The writes in ascending address order; they never overlap.</summary>
    public IReadOnlyList<BootWrite> Writes { get; }

    /// <summary>The e820 map (or PVH memmap) the kernel receives.</summary>
    public IReadOnlyList<E820Entry> MemoryMap { get; }

    /// <summary>The plan's writes whose description starts with <paramref name="what"/>.</summary>
    public BootWrite Write(string what) =>
        Writes.FirstOrDefault(w => w.What.StartsWith(what, StringComparison.Ordinal))
        ?? throw new KeyNotFoundException($"The plan writes no \"{what}\"; it writes {string.Join(", ", Writes.Select(w => w.What))}.");

    /// <summary>
    /// Sets the entry mode's segments, GDT, control registers and EFER on
    /// <paramref name="sregs"/> (from KVM_GET_SREGS, for KVM_SET_SREGS).
    /// </summary>
    public void ApplyTo(ref KvmSregs sregs) => EntryState.ApplyTo(EntryMode, ref sregs);

    /// <summary>
    /// Writes the plan into <paramref name="ram"/>, which backs guest-physical
    /// [0, ram.Length). RAM is not cleared: fresh guest RAM is already zero.
    /// </summary>
    public void WriteTo(Span<byte> ram)
    {
        foreach (var write in Writes)
        {
            if (write.End > (ulong)ram.Length)
                throw new ArgumentException($"{write} does not fit the 0x{ram.Length:x} bytes of RAM given.", nameof(ram));
            write.Bytes.Span.CopyTo(ram[(int)write.Address..]);
        }
    }

    /// <summary>Writes the plan into <paramref name="ram"/>, which backs guest-physical [0, ram.Size).</summary>
    public void WriteTo(GuestRam ram)
    {
        foreach (var write in Writes)
        {
            if (write.End > ram.Size)
                throw new ArgumentException($"{write} does not fit the 0x{ram.Size:x} bytes of RAM given.", nameof(ram));
            write.Bytes.Span.CopyTo(ram.Slice(write.Address, write.Bytes.Length));
        }
    }

    /// <summary>
    /// Writes the plan into <paramref name="ram"/> and puts <paramref name="vcpu"/>
    /// (the boot vCPU) at the kernel's entry: KVM_GET_SREGS, <see cref="ApplyTo"/>,
    /// KVM_SET_SREGS, KVM_SET_REGS, and KVM_SET_FPU with the x87 and SSE control
    /// words a reset leaves. Memory slots and CPUID are the caller's.
    /// </summary>
    public void Load(Vcpu vcpu, GuestRam ram)
    {
        WriteTo(ram);
        var sregs = vcpu.GetSregs();
        ApplyTo(ref sregs);
        vcpu.SetSregs(sregs);
        vcpu.SetRegs(Regs);
        vcpu.SetFpu(new KvmFpu { Fcw = 0x37F, Mxcsr = 0x1F80 });
    }

    private bool IsRam(ulong address, ulong length) =>
        Layout.RamRegions.Any(r => address >= r.Address && length <= r.Size && address - r.Address <= r.Size - length);
}
