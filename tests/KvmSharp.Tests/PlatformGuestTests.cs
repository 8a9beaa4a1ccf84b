using KvmSharp.Abi;
using static Iced.Intel.AssemblerRegisters;

namespace KvmSharp.Tests;

/// <summary>Guests that use the in-kernel interrupt controllers and timers, on both kernels.</summary>
public class PlatformGuestTests
{
    [Theory]
    [MemberData(nameof(Kernels.WithIrqchip), MemberType = typeof(Kernels))]
    public void PitTicksReachTheGuestThroughThePic(string kernel)
    {
        using var kvm = Kernels.Open(kernel);
        using var guest = new RealModeGuest(kvm, a =>
        {
            var sleep = a.CreateLabel();
            a.mov(__word_ptr[0x20 * 4], 0x1100);   // IVT[0x20] = 0000:1100, the handler below.
            a.mov(__word_ptr[0x20 * 4 + 2], 0);
            // Master 8259: ICW1 (edge, cascade, ICW4), ICW2 vector base 0x20, ICW3, ICW4 (8086); then unmask IRQ 0 only.
            a.mov(al, 0x11); a.@out(0x20, al);
            a.mov(al, 0x20); a.@out(0x21, al);
            a.mov(al, 0x04); a.@out(0x21, al);
            a.mov(al, 0x01); a.@out(0x21, al);
            a.mov(al, 0xfe); a.@out(0x21, al);
            // 8254 channel 0, lobyte/hibyte, mode 2 (rate generator), count 11932: about 100 Hz.
            a.mov(al, 0x34); a.@out(0x43, al);
            a.mov(al, 0x9c); a.@out(0x40, al);
            a.mov(al, 0x2e); a.@out(0x40, al);
            a.sti();
            a.Label(ref sleep);
            a.hlt();
            a.jmp(sleep);
        }, withIrqchipAndPit: true);
        // Handler: report the tick on port 0x10, EOI to the master PIC, return.
        guest.Memory.Write(0x1100, [0xe6, 0x10, 0xb0, 0x20, 0xe6, 0x20, 0xcf]); // out 0x10,al; mov al,0x20; out 0x20,al; iret

        int ticks = 0;
        while (ticks < 3)
        {
            var result = guest.Vcpu.Run();
            Assert.Equal(KvmExitReason.Io, result.Reason);
            // Every exit is a tick report: PIC and PIT ports are served in the kernel.
            Assert.Equal(0x10, guest.Vcpu.Io.Port);
            ticks++;
        }
        Assert.Equal(3, ticks);
    }
}
