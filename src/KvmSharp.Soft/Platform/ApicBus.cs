namespace KvmSharp.Soft.Platform;

/// <summary>
/// The local APICs of one VM and the delivery of interrupt messages to them:
/// destination matching, and KVM's choice of one target for lowest-priority
/// delivery (vector hashing over the matching, software-enabled APICs).
/// </summary>
public sealed class ApicBus
{
    private readonly object _lock = new();
    private LocalApic[] _apics = [];

    /// <summary>The APICs in the order they joined (vCPU creation order).</summary>
    public IReadOnlyList<LocalApic> Apics => Volatile.Read(ref _apics);

    public void Add(LocalApic apic)
    {
        lock (_lock)
            Volatile.Write(ref _apics, [.. _apics, apic]);
    }

    public void Remove(LocalApic apic)
    {
        lock (_lock)
            Volatile.Write(ref _apics, _apics.Where(a => a != apic).ToArray());
    }

    /// <summary>
    /// Delivers <paramref name="interrupt"/>; <paramref name="source"/> is the
    /// sender for shorthands; <paramref name="accepted"/>, if given, collects
    /// the APICs that took it (KVM's dest_map). Returns as KVM does: -1 when no
    /// APIC matched a broadcast or shorthand, otherwise how many accepted it
    /// (KVM's fast path answers 0 for a unicast nobody holds).
    /// </summary>
    public int Deliver(in ApicInterrupt interrupt, LocalApic? source = null, List<LocalApic>? accepted = null)
    {
        var apics = Volatile.Read(ref _apics);
        bool lowest = interrupt.DeliveryMode == ApicDeliveryMode.LowestPriority || interrupt.RedirectionHint;
        bool broadcast = interrupt.Destination is 0xFF or 0xFFFF_FFFF;
        // KVM's slow path (broadcasts, shorthands) skips software-disabled APICs
        // when choosing; its fast path (unicast) may choose one, which then refuses.
        bool skipDisabled = broadcast || interrupt.Shorthand != ApicShorthand.None;
        int result = -1;
        Span<int> candidates = apics.Length <= 64 ? stackalloc int[apics.Length] : new int[apics.Length];
        int candidateCount = 0;
        for (int i = 0; i < apics.Length; i++)
        {
            var apic = apics[i];
            if (!apic.HardwareEnabled || !apic.MatchesDestination(interrupt, source))
                continue;
            if (!lowest)
            {
                bool taken = apic.Accept(interrupt);
                result = Math.Max(result, 0) + (taken ? 1 : 0);
                if (taken)
                    accepted?.Add(apic);
            }
            else if (!skipDisabled || apic.SoftwareEnabled)
            {
                candidates[candidateCount++] = i;
            }
        }
        if (candidateCount > 0)
        {
            // Vector hashing spreads each vector to a fixed member of the set.
            var chosen = apics[candidates[interrupt.Vector % candidateCount]];
            result = chosen.Accept(interrupt) ? 1 : 0;
            if (result > 0)
                accepted?.Add(chosen);
        }
        if (result < 0 && apics.Length > 0 && interrupt.Shorthand == ApicShorthand.None && !broadcast)
            result = 0;
        return result;
    }
}
