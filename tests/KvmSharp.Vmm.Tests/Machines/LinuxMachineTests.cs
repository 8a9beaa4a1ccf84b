using System.Text;
using KvmSharp.Vmm.Machines;
using static Iced.Intel.AssemblerRegisters;

namespace KvmSharp.Vmm.Tests.Machines;

/// <summary>
/// The machine's embedding API and the ways a run ends, with tiny assembled
/// guests on Soft (milliseconds each): power-off, reset, triple fault, the
/// console as a Stream both ways, cancellation.
/// </summary>
public class LinuxMachineTests
{
    private static LinuxMachine Machine(TinyGuest guest, out string kernel, LinuxMachineOptions? options = null)
    {
        kernel = guest.WriteElf();
        return new LinuxMachine(KernelChoice.Open("soft"), (options ?? new LinuxMachineOptions { KernelPath = "" }) with
        {
            KernelPath = kernel,
            MemoryBytes = 64UL << 20,
        });
    }

    private static async Task<(MachineExit Exit, string Console)> RunToEnd(TinyGuest guest, Func<LinuxMachine, Task>? during = null)
    {
        using var machine = Machine(guest, out string kernel);
        try
        {
            var run = machine.RunAsync(TestContext.Current.CancellationToken);
            var output = new MemoryStream();
            var reading = machine.Console.CopyToAsync(output, TestContext.Current.CancellationToken);
            if (during is not null)
                await during(machine);
            var exit = await run.WaitAsync(TimeSpan.FromMinutes(1), TestContext.Current.CancellationToken);
            await reading.WaitAsync(TimeSpan.FromMinutes(1), TestContext.Current.CancellationToken);
            return (exit, Encoding.Latin1.GetString(output.ToArray()));
        }
        finally
        {
            File.Delete(kernel);
        }
    }

    [Fact]
    public async Task PowerOffEndsTheRunWithTheConsoleOutputReadableAsAStream()
    {
        var guest = new TinyGuest();
        guest.Print("hello from the guest\n");
        guest.PowerOff();
        var (exit, console) = await RunToEnd(guest);
        Assert.Equal(MachineExitKind.PowerOff, exit.Kind);
        Assert.Equal("the guest powered off", exit.Reason);
        // The console stream ended (CopyToAsync returned) and holds exactly what the guest printed.
        Assert.Equal("hello from the guest\n", console);
    }

    [Fact]
    public async Task TheI8042ResetLineEndsTheRunAsAReboot()
    {
        var guest = new TinyGuest();
        guest.Code.mov(al, (byte)0xFE);
        guest.Code.@out((byte)0x64, al);
        guest.Hang();
        var (exit, _) = await RunToEnd(guest);
        Assert.Equal(MachineExitKind.Reboot, exit.Kind);
    }

    [Fact]
    public async Task ATripleFaultIsReportedWithTheVcpuAndRip()
    {
        var guest = new TinyGuest();
        // An IDT with no entries: the #UD cannot be delivered, nor the #DF after it.
        guest.Code.push(0);
        guest.Code.push(0);
        guest.Code.lidt(__[rsp + 6]);
        guest.Code.ud2();
        var (exit, _) = await RunToEnd(guest);
        Assert.Equal(MachineExitKind.TripleFault, exit.Kind);
        Assert.Matches("^vCPU 0 triple-faulted at RIP 0x[0-9a-f]+$", exit.Reason);
    }

    [Fact]
    public async Task BytesWrittenToTheConsoleStreamReachTheGuestsSerialPort()
    {
        var guest = new TinyGuest();
        guest.EchoUppercasedUntilDotThenPowerOff();

        var (exit, console) = await RunToEnd(guest, async machine =>
        {
            await machine.Console.WriteAsync("typed.ignored"u8.ToArray(), TestContext.Current.CancellationToken);
        });
        Assert.Equal(MachineExitKind.PowerOff, exit.Kind);
        Assert.Equal("TYPED", console);
    }

    [Fact]
    public async Task WithConsoleHvc0LastTypedBytesGoToTheVirtioConsole()
    {
        // The guest drives the virtio console (the first virtio device here) itself: one 64-byte
        // receive buffer on queue 0, then it waits for the used ring and prints what arrived to COM1.
        const ulong Descriptors = 0x200000, Available = 0x201000, Used = 0x202000, Buffer = 0x203000;
        var guest = new TinyGuest();
        var a = guest.Code;
        void Register(int offset, uint value) => a.mov(__dword_ptr[rbx + offset], value);
        a.mov(rbx, LinuxMachine.VirtioMmioBase);
        foreach (var (offset, value) in new (int, uint)[] { (0x70, 0), (0x70, 1), (0x70, 3), (0x24, 1), (0x20, 1), (0x24, 0), (0x20, 0), (0x70, 0xB),
                     (0x30, 0), (0x38, 8), (0x80, (uint)Descriptors), (0x84, 0), (0x90, (uint)Available), (0x94, 0), (0xA0, (uint)Used), (0xA4, 0),
                     (0x44, 1), (0x70, 0xF), (0x50, 0) })
            Register(offset, value);
        var wait = a.CreateLabel();
        var print = a.CreateLabel();
        a.mov(rsi, Used + 2);
        a.Label(ref wait);
        a.pause();
        a.cmp(__word_ptr[rsi], 0);
        a.je(wait);
        a.mov(rsi, Used + 8);
        a.mov(ecx, __dword_ptr[rsi]); // the length the device wrote
        a.mov(rsi, Buffer);
        a.Label(ref print);
        a.mov(al, __byte_ptr[rsi]);
        guest.PrintAl();
        a.inc(rsi);
        a.dec(ecx);
        a.jnz(print);
        guest.PowerOff();
        var descriptor = new byte[16];
        BitConverter.GetBytes(Buffer).CopyTo(descriptor, 0);
        BitConverter.GetBytes(64u).CopyTo(descriptor, 8);
        BitConverter.GetBytes((ushort)2).CopyTo(descriptor, 12); // device-writable
        guest.Data.Add((Descriptors, descriptor));
        guest.Data.Add((Available, [0, 0, 1, 0, 0, 0])); // flags 0, idx 1, ring[0] = descriptor 0

        using var machine = Machine(guest, out string kernel, new LinuxMachineOptions { KernelPath = "", CommandLine = "console=ttyS0 console=hvc0" });
        try
        {
            var run = machine.RunAsync(TestContext.Current.CancellationToken);
            await machine.Console.WriteAsync("to hvc0"u8.ToArray(), TestContext.Current.CancellationToken);
            var output = new MemoryStream();
            await machine.Console.CopyToAsync(output, TestContext.Current.CancellationToken).WaitAsync(TimeSpan.FromMinutes(1), TestContext.Current.CancellationToken);
            var exit = await run;
            Assert.Equal(MachineExitKind.PowerOff, exit.Kind);
            Assert.Equal("to hvc0", Encoding.ASCII.GetString(output.ToArray()));
            Assert.All(machine.VirtioDevices, d => Assert.Null(d.LastFault));
        }
        finally
        {
            File.Delete(kernel);
        }
    }

    [Fact]
    public async Task CancellingTheTokenStopsASpinningGuest()
    {
        var guest = new TinyGuest();
        var spin = guest.Code.CreateLabel();
        guest.Code.Label(ref spin);
        guest.Code.jmp(spin);
        using var machine = Machine(guest, out string kernel, new LinuxMachineOptions { KernelPath = "", Cpus = 2 });
        try
        {
            using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));
            var exit = await machine.RunAsync(cancel.Token).WaitAsync(TimeSpan.FromMinutes(1), TestContext.Current.CancellationToken);
            Assert.Equal(MachineExitKind.Stopped, exit.Kind);
            Assert.Equal("the host cancelled the run", exit.Reason);
            Assert.Throws<InvalidOperationException>(() => { _ = machine.RunAsync(TestContext.Current.CancellationToken); });
        }
        finally
        {
            File.Delete(kernel);
        }
    }

    [Fact]
    public void BadOptionsAreRefusedWithTheirReason()
    {
        var bad = Assert.Throws<ArgumentException>(() => new LinuxMachine(KernelChoice.Open("soft"), new LinuxMachineOptions
        {
            KernelPath = "/nonexistent",
            Disks = [new DiskOptions("/nonexistent/disk.img")],
        }));
        Assert.Contains("/nonexistent/disk.img cannot be opened", bad.Message);
        var tooMany = Assert.Throws<ArgumentOutOfRangeException>(() => new LinuxMachine(KernelChoice.Open("soft"), new LinuxMachineOptions { KernelPath = "/nonexistent", Cpus = 65 }));
        Assert.Contains("65", tooMany.Message);
    }
}
