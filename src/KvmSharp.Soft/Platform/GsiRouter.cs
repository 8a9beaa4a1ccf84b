using KvmSharp.Abi;

namespace KvmSharp.Soft.Platform;

/// <summary>
/// KVM's GSI routing: which irqchip pins, or which MSI, a global system
/// interrupt reaches. Starts with KVM's default table (GSI 0-15 to the PIC pin
/// and the IOAPIC pin of the same number, 16-23 to the IOAPIC alone - GSI 0
/// reaches IOAPIC pin 0, as the real /dev/kvm shows; mapping the PIT to pin 2
/// is the VMM's job, through its MP/ACPI override and this table), replaced as
/// a whole by <see cref="SetRouting"/> (KVM_SET_GSI_ROUTING).
/// </summary>
/// <remarks>
/// Several sources (userspace, the PIT, irqfd resampling) can drive one GSI;
/// as in KVM the line is the OR of their levels.
/// </remarks>
public sealed class GsiRouter
{
    public const int UserspaceSourceId = 0;
    public const int ResampleSourceId = 1;
    public const int PitSourceId = 2;
    public const int MaxRoutes = 4096;
    public const int DefaultGsiCount = 24;

    private readonly object _lock = new();
    private readonly I8259Pic _pic;
    private readonly Ioapic _ioapic;
    private readonly ApicBus _bus;
    private readonly Dictionary<uint, ulong> _sourceLevels = [];
    private Dictionary<uint, KvmIrqRoutingEntry[]> _table = [];
    private KvmIrqRoutingEntry[] _entries = [];

    public GsiRouter(I8259Pic pic, Ioapic ioapic, ApicBus bus)
    {
        _pic = pic;
        _ioapic = ioapic;
        _bus = bus;
        SetRouting(DefaultRouting());
        pic.InterruptAcknowledged += irq =>
            NotifyAcknowledged(irq < 8 ? (uint)KvmConstants.KVM_IRQCHIP_PIC_MASTER : KvmConstants.KVM_IRQCHIP_PIC_SLAVE, (uint)irq % 8);
        ioapic.InterruptAcknowledged += pin => NotifyAcknowledged(KvmConstants.KVM_IRQCHIP_IOAPIC, (uint)pin);
    }

    /// <summary>
    /// The guest ended an interrupt that came in on <c>gsi</c> (KVM's irq ack
    /// notifiers, found through the routing table): the PIT's reinjection and
    /// irqfd resampling hang off this.
    /// </summary>
    public event Action<uint>? GsiAcknowledged;

    /// <summary>The table as last set, in the order given.</summary>
    public IReadOnlyList<KvmIrqRoutingEntry> Entries => Volatile.Read(ref _entries);

    /// <summary>KVM's default table (kvm_setup_default_irq_routing).</summary>
    public static KvmIrqRoutingEntry[] DefaultRouting()
    {
        var entries = new List<KvmIrqRoutingEntry>();
        for (uint gsi = 0; gsi < DefaultGsiCount; gsi++)
        {
            if (gsi < 16)
                entries.Add(IrqchipEntry(gsi, gsi < 8 ? (uint)KvmConstants.KVM_IRQCHIP_PIC_MASTER : KvmConstants.KVM_IRQCHIP_PIC_SLAVE, gsi % 8));
            entries.Add(IrqchipEntry(gsi, KvmConstants.KVM_IRQCHIP_IOAPIC, gsi));
        }
        return [.. entries];
    }

    public static KvmIrqRoutingEntry IrqchipEntry(uint gsi, uint chip, uint pin)
    {
        var entry = new KvmIrqRoutingEntry { Gsi = gsi, Type = KvmConstants.KVM_IRQ_ROUTING_IRQCHIP };
        entry.Irqchip.Irqchip = chip;
        entry.Irqchip.Pin = pin;
        return entry;
    }

    public static KvmIrqRoutingEntry MsiEntry(uint gsi, ulong address, uint data)
    {
        var entry = new KvmIrqRoutingEntry { Gsi = gsi, Type = KvmConstants.KVM_IRQ_ROUTING_MSI };
        entry.Msi.AddressLo = (uint)address;
        entry.Msi.AddressHi = (uint)(address >> 32);
        entry.Msi.Data = data;
        return entry;
    }

    /// <summary>
    /// KVM_SET_GSI_ROUTING: validates every entry as KVM does (EINVAL for a
    /// GSI or pin out of range, an unknown chip or type, flags, or two entries
    /// of one GSI that are not on different irqchips) and replaces the table
    /// only if all are valid.
    /// </summary>
    public void SetRouting(ReadOnlySpan<KvmIrqRoutingEntry> entries, uint flags = 0)
    {
        const string operation = "KVM_SET_GSI_ROUTING";
        if (entries.Length > MaxRoutes)
            throw new KvmException(Errno.EINVAL, operation, $"{entries.Length} entries (at most {MaxRoutes})");
        if (flags != 0)
            throw new KvmException(Errno.EINVAL, operation, $"flags 0x{flags:x}");
        var table = new Dictionary<uint, KvmIrqRoutingEntry[]>();
        for (int i = 0; i < entries.Length; i++)
        {
            var entry = entries[i];
            string? problem = Validate(entry);
            if (problem is null && table.TryGetValue(entry.Gsi, out var existing))
            {
                foreach (var other in existing)
                    if (other.Type != KvmConstants.KVM_IRQ_ROUTING_IRQCHIP || entry.Type != KvmConstants.KVM_IRQ_ROUTING_IRQCHIP
                        || other.Irqchip.Irqchip == entry.Irqchip.Irqchip)
                        problem = "a second route for the GSI on the same irqchip, or beside a non-irqchip route";
            }
            if (problem is not null)
                throw new KvmException(Errno.EINVAL, operation, $"entry {i} (GSI {entry.Gsi}): {problem}");
            table[entry.Gsi] = table.TryGetValue(entry.Gsi, out var list) ? [.. list, entry] : [entry];
        }
        lock (_lock)
        {
            Volatile.Write(ref _table, table);
            Volatile.Write(ref _entries, entries.ToArray());
        }
    }

    /// <summary>
    /// Sets <paramref name="gsi"/>'s level as driven by <paramref name="sourceId"/>.
    /// Returns KVM's KVM_IRQ_LINE_STATUS value: the sum of what the routes
    /// delivered (&gt;0), 0 when coalesced, -1 when every route refused (masked)
    /// or the GSI has no route. <paramref name="lineStatus"/> is true for
    /// KVM_IRQ_LINE_STATUS (it lets the IOAPIC coalesce RTC interrupts).
    /// </summary>
    public int SetIrq(int sourceId, uint gsi, bool level, bool lineStatus = false)
    {
        var table = Volatile.Read(ref _table);
        if (!table.TryGetValue(gsi, out var routes))
            return -1;
        bool line;
        lock (_lock)
        {
            ulong sources = _sourceLevels.GetValueOrDefault(gsi);
            sources = level ? sources | (1UL << sourceId) : sources & ~(1UL << sourceId);
            _sourceLevels[gsi] = sources;
            line = sources != 0;
        }
        int result = -1;
        foreach (var route in routes)
        {
            int r = Deliver(route, line, lineStatus);
            if (r < 0)
                continue;
            result = r + Math.Max(result, 0);
        }
        return result;
    }

    /// <summary>A rising and falling edge from <paramref name="sourceId"/>, as KVM's PIT and irqfds raise edge interrupts.</summary>
    public int Pulse(int sourceId, uint gsi)
    {
        int result = SetIrq(sourceId, gsi, true);
        SetIrq(sourceId, gsi, false);
        return result;
    }

    /// <summary>KVM_SIGNAL_MSI: &gt;0 delivered, 0 not accepted, -1 no APIC matched; EINVAL for unknown flags.</summary>
    public int SignalMsi(in KvmMsi msi)
    {
        if ((msi.Flags & ~KvmConstants.KVM_MSI_VALID_DEVID) != 0)
            throw new KvmException(Errno.EINVAL, "KVM_SIGNAL_MSI", $"flags 0x{msi.Flags:x}");
        ulong address = ((ulong)msi.AddressHi << 32) | msi.AddressLo;
        return _bus.Deliver(ApicInterrupt.FromMsi(address, msi.Data));
    }

    private void NotifyAcknowledged(uint chip, uint pin)
    {
        if (GsiAcknowledged is not { } handler)
            return;
        foreach (var entry in Volatile.Read(ref _entries))
            if (entry.Type == KvmConstants.KVM_IRQ_ROUTING_IRQCHIP && entry.Irqchip.Irqchip == chip && entry.Irqchip.Pin == pin)
                handler(entry.Gsi);
    }

    private static string? Validate(in KvmIrqRoutingEntry entry)
    {
        if (entry.Gsi >= MaxRoutes)
            return $"GSI at most {MaxRoutes - 1}";
        switch (entry.Type)
        {
            case KvmConstants.KVM_IRQ_ROUTING_IRQCHIP:
                if (entry.Flags != 0)
                    return $"flags 0x{entry.Flags:x}";
                return entry.Irqchip.Irqchip switch
                {
                    KvmConstants.KVM_IRQCHIP_PIC_MASTER or KvmConstants.KVM_IRQCHIP_PIC_SLAVE when entry.Irqchip.Pin >= 8 => $"PIC pin {entry.Irqchip.Pin}",
                    KvmConstants.KVM_IRQCHIP_IOAPIC when entry.Irqchip.Pin >= Ioapic.PinCount => $"IOAPIC pin {entry.Irqchip.Pin}",
                    >= KvmConstants.KVM_NR_IRQCHIPS => $"irqchip {entry.Irqchip.Irqchip}",
                    _ => null,
                };
            case KvmConstants.KVM_IRQ_ROUTING_MSI:
                return (entry.Flags & ~KvmConstants.KVM_MSI_VALID_DEVID) != 0 ? $"flags 0x{entry.Flags:x}" : null;
            default:
                return $"routing type {entry.Type}";
        }
    }

    private int Deliver(in KvmIrqRoutingEntry route, bool level, bool lineStatus)
    {
        if (route.Type == KvmConstants.KVM_IRQ_ROUTING_MSI)
        {
            // An MSI is an edge: only the rising side sends a message.
            if (!level)
                return -1;
            ulong address = ((ulong)route.Msi.AddressHi << 32) | route.Msi.AddressLo;
            return _bus.Deliver(ApicInterrupt.FromMsi(address, route.Msi.Data));
        }
        return route.Irqchip.Irqchip switch
        {
            KvmConstants.KVM_IRQCHIP_PIC_MASTER => _pic.SetIrq((int)route.Irqchip.Pin, level),
            KvmConstants.KVM_IRQCHIP_PIC_SLAVE => _pic.SetIrq((int)route.Irqchip.Pin + 8, level),
            _ => _ioapic.SetIrq((int)route.Irqchip.Pin, level, lineStatus),
        };
    }
}
