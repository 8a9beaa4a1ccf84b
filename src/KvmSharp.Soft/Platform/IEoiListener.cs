namespace KvmSharp.Soft.Platform;

/// <summary>Receives local-APIC EOIs: KVM broadcasts each one to the IOAPIC, which clears remote IRR on level pins.</summary>
public interface IEoiListener
{
    void OnEoi(LocalApic source, byte vector, bool levelTriggered);
}
