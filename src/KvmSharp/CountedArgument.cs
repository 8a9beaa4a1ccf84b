namespace KvmSharp;

/// <summary>
/// The argument of the variable-length ioctls: a header whose first 32-bit field
/// is the entry count (kvm_msrs, kvm_msr_list, kvm_cpuid2, kvm_cpuid,
/// kvm_irq_routing, kvm_signal_mask), then the entries.
/// </summary>
internal static unsafe class CountedArgument
{
    /// <summary>
    /// Issues <paramref name="request"/> with <paramref name="entries"/> after a
    /// <typeparamref name="THeader"/>; returns the kernel's result or negated errno,
    /// and the count the kernel left in the header. Only on success are the
    /// entries it reports (at most as many as were given) copied back.
    /// </summary>
    public static int Exchange<THeader, TEntry>(KvmHandle handle, ulong request, Span<TEntry> entries, out int count)
        where THeader : unmanaged where TEntry : unmanaged
    {
        var buffer = new byte[sizeof(THeader) + entries.Length * sizeof(TEntry)];
        fixed (byte* p = buffer)
        {
            *(uint*)p = (uint)entries.Length;
            var inPlace = new Span<TEntry>(p + sizeof(THeader), entries.Length);
            entries.CopyTo(inPlace);
            int result = handle.TryCall(request, (nint)p);
            count = (int)*(uint*)p;
            if (result >= 0)
                inPlace[..Math.Min(count, entries.Length)].CopyTo(entries);
            return result;
        }
    }

    /// <summary>Sends entries the kernel only reads; throws for an errno.</summary>
    public static void Send<THeader, TEntry>(KvmHandle handle, ulong request, ReadOnlySpan<TEntry> entries, string operation, string entriesName)
        where THeader : unmanaged where TEntry : unmanaged
    {
        int count = entries.Length;
        KvmHandle.Check(Exchange<THeader, TEntry>(handle, request, entries.ToArray(), out _), operation, () => $"{count} {entriesName}");
    }
}
