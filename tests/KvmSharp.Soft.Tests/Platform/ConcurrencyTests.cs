using KvmSharp.Soft.Platform;
using R = KvmSharp.Soft.Platform.ApicRegisters;

namespace KvmSharp.Soft.Tests.Platform;

// Every chip is touched at once from "vCPU" threads and a "host" thread, along
// every path that crosses chips (PIC to LAPIC, IOAPIC to LAPIC, LAPIC EOI to
// IOAPIC, LAPIC to LAPIC, PIT to router): nothing may deadlock or throw.
public class ConcurrencyTests
{
    [Fact]
    public void All_cross_chip_paths_at_once_do_not_deadlock()
    {
        var clock = new ManualClock();
        using var chips = new InKernelIrqchip(clock, runTimers: false);
        var bsp = chips.CreateLocalApic(0, new RecordingVcpu(), bootstrapProcessor: true);
        var ap = chips.CreateLocalApic(1, new RecordingVcpu(), bootstrapProcessor: false);
        foreach (var apic in new[] { bsp, ap })
            apic.WriteRegister(R.SpuriousVector, 0x1FF);
        foreach (var (port, value) in new (ushort, byte)[] { (0x20, 0x11), (0x21, 0x20), (0x21, 0x04), (0x21, 0x01), (0xA0, 0x11), (0xA1, 0x28), (0xA1, 0x02), (0xA1, 0x01) })
            chips.Pic.WritePort(port, value);
        // Pin 4 edge and pin 9 level to the AP; the PIC carries IRQ 0 and 4 to the BSP.
        void Program(int pin, ulong entry)
        {
            chips.Ioapic.WriteMmio(Ioapic.RegisterSelect, (uint)(0x10 + pin * 2));
            chips.Ioapic.WriteMmio(Ioapic.RegisterWindow, (uint)entry);
            chips.Ioapic.WriteMmio(Ioapic.RegisterSelect, (uint)(0x11 + pin * 2));
            chips.Ioapic.WriteMmio(Ioapic.RegisterWindow, (uint)(entry >> 32));
        }
        Program(4, (1UL << 56) | 0x54);
        Program(9, (1UL << 56) | (1UL << 15) | 0x59);
        var pit = chips.CreatePit(0);
        pit.WritePort(I8254Pit.ControlPort, 0x34);
        pit.WritePort(0x40, 0x00);
        pit.WritePort(0x40, 0x10);

        const int rounds = 20_000;
        var failures = new List<Exception>();
        Thread Start(Action body)
        {
            var thread = new Thread(() =>
            {
                try
                {
                    body();
                }
                catch (Exception e)
                {
                    lock (failures)
                        failures.Add(e);
                }
            });
            thread.Start();
            return thread;
        }
        var threads = new[]
        {
            Start(() =>
            {
                for (int i = 0; i < rounds; i++)
                {
                    chips.Router.Pulse(GsiRouter.UserspaceSourceId, 4);
                    chips.Router.SetIrq(GsiRouter.UserspaceSourceId, 9, (i & 1) == 0);
                    clock.Advance(100_000);
                    pit.PollTimers();
                }
            }),
            Start(() =>
            {
                for (int i = 0; i < rounds; i++)
                {
                    if (bsp.TryAcknowledge(out byte vector))
                    {
                        if (vector is >= 0x20 and < 0x30)
                            chips.Pic.WritePort(0x20, 0x20);
                        else
                            bsp.WriteRegister(R.Eoi, 0);
                    }
                    bsp.WriteRegister(R.InterruptCommandHigh, 1u << 24);
                    bsp.WriteRegister(R.InterruptCommandLow, 0x4000 | 0x90);
                }
            }),
            Start(() =>
            {
                for (int i = 0; i < rounds; i++)
                {
                    if (ap.TryAcknowledge(out _))
                        ap.WriteRegister(R.Eoi, 0);
                    ap.WriteRegister(R.InterruptCommandHigh, 0);
                    ap.WriteRegister(R.InterruptCommandLow, 0x4000 | 0xA0);
                    _ = chips.GetIrqchip((uint)(i % 3));
                }
            }),
        };
        foreach (var thread in threads)
            Assert.True(thread.Join(TimeSpan.FromSeconds(60)), "a device thread is stuck");
        Assert.Empty(failures);
    }
}
