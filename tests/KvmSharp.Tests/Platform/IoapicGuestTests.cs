using KvmSharp.Abi;
using KvmSharp.Tests.Guests;
using static Iced.Intel.AssemblerRegisters;
using static KvmSharp.Tests.Guests.ApicGuest;

namespace KvmSharp.Tests.Platform;

/// <summary>The PIT's interrupt reaching a long-mode guest through the IOAPIC and its local APIC, PICs masked.</summary>
public class IoapicGuestTests
{
    private const int Vector = 0x30;
    private const int ReportPort = 0x10;

    [Theory]
    [MemberData(nameof(Kernels.WithIrqchip), MemberType = typeof(Kernels))]
    public void PitTicksReachTheGuestThroughTheIoapic(string kernel)
    {
        using var kvm = Kernels.Open(kernel);
        using var guest = new ApicGuest(kvm, 1, g =>
        {
            var a = g.Asm;
            var sleep = a.CreateLabel();
            g.EnableApic();
            // Both PICs masked and LINT0 masked: a tick can only come through the IOAPIC.
            a.mov(al, 0xff);
            a.@out(0x21, al);
            a.@out(0xa1, al);
            g.ApicWrite(LvtLint0, 0x1_0700);
            // Redirection entry of pin 2 (high dword, then low): to APIC ID 0, fixed, physical, edge, unmasked.
            a.mov(rbx, (long)IoapicAddress);
            a.mov(__dword_ptr[rbx], 0x10 + 2 * 2 + 1);
            a.mov(__dword_ptr[rbx + 0x10], 0);
            a.mov(__dword_ptr[rbx], 0x10 + 2 * 2);
            a.mov(__dword_ptr[rbx + 0x10], Vector);
            // 8254 channel 0, lobyte/hibyte, mode 2, count 11932: about 100 Hz.
            a.mov(al, 0x34); a.@out(0x43, al);
            a.mov(al, 0x9c); a.@out(0x40, al);
            a.mov(al, 0x2e); a.@out(0x40, al);
            a.sti();
            a.Label(ref sleep);
            a.hlt();
            a.jmp(sleep);

            g.Gate(Vector);
            a.mov(eax, Vector);
            a.@out(ReportPort, eax);
            g.ApicWrite(Eoi, 0);
            a.iretq();
        }, withPit: true);
        // The routing a PC VMM installs (QEMU's): the PIT's GSI 0 reaches IOAPIC pin 2, as the MP table's override says.
        guest.Vm.SetGsiRouting(PcRouting());

        for (int tick = 0; tick < 3; tick++)
            // Every exit is a tick report: PIT, PIC, IOAPIC and local APIC accesses stay in the kernel.
            Assert.Equal(((ushort)ReportPort, (uint)Vector), guest.RunToOut(0));
    }

    /// <summary>GSIs 0-15 to the PIC pins (2 is the cascade), 0-23 to the IOAPIC pins, GSI 0 to IOAPIC pin 2.</summary>
    internal static KvmIrqRoutingEntry[] PcRouting()
    {
        var entries = new List<KvmIrqRoutingEntry>();
        for (uint gsi = 0; gsi < 24; gsi++)
        {
            if (gsi < 16 && gsi != 2)
                entries.Add(Irqchip(gsi, gsi < 8 ? KvmConstants.KVM_IRQCHIP_PIC_MASTER : KvmConstants.KVM_IRQCHIP_PIC_SLAVE, gsi % 8));
            if (gsi != 2)
                entries.Add(Irqchip(gsi, KvmConstants.KVM_IRQCHIP_IOAPIC, gsi == 0 ? 2 : gsi));
        }
        return [.. entries];
    }

    private static KvmIrqRoutingEntry Irqchip(uint gsi, int chip, uint pin)
    {
        var entry = new KvmIrqRoutingEntry { Gsi = gsi, Type = KvmConstants.KVM_IRQ_ROUTING_IRQCHIP };
        entry.Irqchip.Irqchip = (uint)chip;
        entry.Irqchip.Pin = pin;
        return entry;
    }
}
