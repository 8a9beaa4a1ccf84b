namespace KvmSharp.Soft.Platform;

/// <summary>The guest's time-stamp counter as a function of platform time, for the APIC's TSC-deadline mode.</summary>
public interface IGuestTsc
{
    /// <summary>The TSC value the guest reads at platform time <paramref name="nanoseconds"/>.</summary>
    ulong TscAt(long nanoseconds);

    /// <summary>The TSC rate in kHz (KVM_SET_TSC_KHZ).</summary>
    uint TscKhz { get; }
}
