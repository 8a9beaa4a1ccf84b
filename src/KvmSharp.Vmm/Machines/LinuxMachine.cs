using System.Diagnostics;
using KvmSharp.Abi;
using KvmSharp.Kernel;
using KvmSharp.Vmm.Acpi;
using KvmSharp.Vmm.Boot;
using KvmSharp.Vmm.Devices;
using KvmSharp.Vmm.Devices.Legacy;
using KvmSharp.Vmm.Devices.Virtio;
using KvmSharp.Vmm.Memory;

namespace KvmSharp.Vmm.Machines;

/// <summary>
/// A PC-like machine that boots a Linux kernel: RAM, the in-kernel irqchip and
/// PIT, ACPI tables, COM1/RTC/i8042, virtio-mmio block, console and entropy
/// devices (declared in the DSDT), one thread per vCPU. Build it from
/// <see cref="LinuxMachineOptions"/>, talk to it through <see cref="Console"/>,
/// and await <see cref="RunAsync"/>.
/// </summary>
public sealed class LinuxMachine : IDisposable
{
    /// <summary>Where the first virtio-mmio window sits: above 3 GiB of RAM, below the IOAPIC.</summary>
    public const ulong VirtioMmioBase = 0xD000_0000;

    /// <summary>The first virtio interrupt: IOAPIC pins 16-23 belong to no ISA device.</summary>
    public const uint FirstVirtioGsi = 16;
    public const int MaxVirtioDevices = 8;

    /// <summary>Where a PC starts after a reset: F000:FFF0, in the reserved BIOS area.</summary>
    public const ulong ResetVector = 0xFFFF0;

    /// <summary>
    /// There is no BIOS here, so the reset vector holds the only thing a BIOS
    /// would do for a guest that jumps there to reboot (Linux's real-mode
    /// restart does): pulse the reset line, through the i8042 (mov al, 0xFE;
    /// out 0x64, al; then hlt forever).
    /// </summary>
    private static ReadOnlySpan<byte> ResetVectorStub => [0xB0, 0xFE, 0xE6, 0x64, 0xF4, 0xEB, 0xFD];

    private readonly Kvm _kvm;
    private readonly GuestRam _ram;
    private readonly KvmSharp.Vm _vm;
    private readonly KvmSharp.Vcpu[] _vcpus;
    private readonly PioBus _pio = new();
    private readonly MmioBus _mmio = new();
    private readonly PcLegacyDevices _legacy;
    private readonly VirtioMmioDevices _virtio;
    private readonly List<VirtioBlock> _disks = [];
    private readonly VirtioConsole? _virtioConsole;
    private readonly IHostInput _consoleInput;
    private readonly AcpiOptions _acpi;
    private readonly ExitCounter _exits = new();
    private readonly Lock _exitLock = new();
    private readonly Lock _stopLock = new();
    private (MachineExitKind Kind, string Reason)? _stop;
    private int _started;
    private Task<MachineExit>? _run;

    public LinuxMachine(IKvmKernel kernel, LinuxMachineOptions options)
    {
        if (options.MemoryBytes > 3UL << 30)
            throw new ArgumentOutOfRangeException(nameof(options), $"A LinuxMachine guest has at most 3 GiB of RAM; {options.MemoryBytes} bytes were asked for.");
        if (options.Cpus is < 1 or > 64)
            throw new ArgumentOutOfRangeException(nameof(options), $"A LinuxMachine has 1 to 64 vCPUs; {options.Cpus} were asked for.");
        int virtioCount = options.Disks.Count + (options.VirtioConsole ? 1 : 0) + (options.VirtioRng ? 1 : 0);
        if (virtioCount > MaxVirtioDevices)
            throw new ArgumentOutOfRangeException(nameof(options), $"A LinuxMachine has room for {MaxVirtioDevices} virtio devices; {virtioCount} were asked for.");

        Console = new GuestConsoleStream(bytes => _consoleInput!.Receive(bytes));
        Stream output = options.ConsoleOutput is { } given ? Stream.Synchronized(given) : Console.GuestSide;
        _kvm = Kvm.Open(kernel);
        _ram = new GuestRam(options.MemoryBytes);
        try
        {
            _vm = _kvm.CreateVm();
            _vm.CreateIrqchip();
            _vm.CreatePit2();
            _vm.SetUserMemoryRegion(0, 0, _ram.Size, _ram.Address);
            _vcpus = new KvmSharp.Vcpu[options.Cpus];
            for (int i = 0; i < options.Cpus; i++)
                _vcpus[i] = _vm.CreateVcpu((uint)i);
            var cpuid = _kvm.GetSupportedCpuid();
            foreach (var vcpu in _vcpus)
                vcpu.SetCpuid2(WithInitialApicId(cpuid, vcpu.Id));

            _legacy = new PcLegacyDevices(_pio, output,
                irq => new ChangeOnlyInterruptLine(level => _vm.IrqLine((uint)irq, level)),
                () => Stop(MachineExitKind.Reboot, "the guest asked for a reset"));
            _virtio = new VirtioMmioDevices(_mmio, new GuestRamMemory((0, _ram)),
                gsi => new ChangeOnlyInterruptLine(level => _vm.IrqLine(gsi, level)), options.DeviceLog, VirtioMmioBase, FirstVirtioGsi);
            foreach (var disk in options.Disks)
                _disks.Add(OpenDisk(disk, options.DeviceLog));
            foreach (var disk in _disks)
                _virtio.Add(disk);
            if (options.VirtioConsole)
                _virtio.Add(_virtioConsole = new VirtioConsole(output));
            if (options.VirtioRng)
                _virtio.Add(new VirtioRng());
            _consoleInput = ReadsFromVirtioConsole(options.CommandLine) && _virtioConsole is not null ? _virtioConsole : _legacy.Com1;

            _acpi = new AcpiOptions
            {
                Cpus = options.Cpus,
                VirtioMmio = _virtio.Devices.Select(d => new AcpiMmioDevice(d.Slot.Base, d.Slot.Size, d.Slot.Irq)).ToArray(),
            };
            // The TSC rate must reach a kernel that cannot calibrate against ACPI's PM timer.
            string commandLine = $"{options.CommandLine} tsc_early_khz={_vcpus[0].GetTscKhz()}";
            var plan = KernelLoader.Load(options.KernelPath, new LinuxBootOptions
            {
                MemorySize = options.MemoryBytes,
                CommandLine = commandLine,
                Initrd = options.InitrdPath is null ? ReadOnlyMemory<byte>.Empty : File.ReadAllBytes(options.InitrdPath),
                Firmware = AcpiTables.Build(_acpi),
            });
            plan.Load(_vcpus[0], _ram);
            ResetVectorStub.CopyTo(_ram.Span[(int)ResetVector..]);
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>The guest's console: read its output (unless <see cref="LinuxMachineOptions.ConsoleOutput"/> took it), write to type.</summary>
    public GuestConsoleStream Console { get; }

    /// <summary>The virtio devices, with their transport state (status, last fault), in the order they were added.</summary>
    public IReadOnlyList<VirtioMmioTransport> VirtioDevices => _virtio.Devices.Select(d => d.Transport).ToArray();

    public ExitCounter Exits => _exits;

    /// <summary>Host input for the guest's console (a terminal, a pipe…), read on its own thread until it ends.</summary>
    public Task ConnectConsoleInput(Stream input, CancellationToken cancellation = default) => _consoleInput.PumpFrom(input, cancellation);

    /// <summary>
    /// Linux makes the last <c>console=</c> its /dev/console, where init's shell
    /// reads, so typed input goes to that device: hvc0 or COM1.
    /// </summary>
    private static bool ReadsFromVirtioConsole(string commandLine) =>
        commandLine.Split(' ', StringSplitOptions.RemoveEmptyEntries)
            .LastOrDefault(word => word.StartsWith("console=", StringComparison.Ordinal)) is { } last
        && last["console=".Length..].StartsWith("hvc", StringComparison.Ordinal);

    private static VirtioBlock OpenDisk(DiskOptions disk, DeviceLog log)
    {
        try
        {
            return new VirtioBlock(disk.Path, disk.ReadOnly, log: log);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ArgumentException($"The disk image {disk.Path} cannot be opened{(disk.ReadOnly ? " for reading" : " for reading and writing")}: {e.Message}", nameof(disk), e);
        }
    }

    /// <summary>
    /// CPUID leaf 1 EBX[31:24] is the initial APIC ID, which differs per vCPU; as
    /// with KVM, the VMM fills it in, or Linux sees IDs that disagree with the MADT.
    /// </summary>
    private static KvmCpuidEntry2[] WithInitialApicId(KvmCpuidEntry2[] supported, uint apicId)
    {
        var entries = (KvmCpuidEntry2[])supported.Clone();
        for (int i = 0; i < entries.Length; i++)
            if (entries[i].Function == 1)
                entries[i].Ebx = (entries[i].Ebx & 0x00ff_ffff) | (apicId << 24);
        return entries;
    }

    /// <summary>
    /// Starts every vCPU on its own thread; the task ends when all have stopped:
    /// the guest powered off, reset or faulted, <see cref="Stop"/> was called, or
    /// <paramref name="cancellation"/> fired. A machine runs once.
    /// </summary>
    public Task<MachineExit> RunAsync(CancellationToken cancellation = default)
    {
        if (Interlocked.Exchange(ref _started, 1) != 0)
            throw new InvalidOperationException("This machine has already run; build a new one to boot again.");
        var clock = Stopwatch.StartNew();
        var done = new TaskCompletionSource<MachineExit>(TaskCreationOptions.RunContinuationsAsynchronously);
        int running = _vcpus.Length;
        var registration = cancellation.Register(() => Stop(MachineExitKind.Stopped, "the host cancelled the run"));
        foreach (var vcpu in _vcpus)
        {
            new Thread(() =>
            {
                RunVcpu(vcpu);
                if (Interlocked.Decrement(ref running) == 0)
                {
                    registration.Dispose();
                    Console.Complete();
                    var (kind, reason) = _stop ?? (MachineExitKind.Stopped, "stopped");
                    done.SetResult(new MachineExit(kind, reason, clock.Elapsed, _exits));
                }
            }) { Name = $"vCPU {vcpu.Id}", IsBackground = true }.Start();
        }
        return _run = done.Task;
    }

    /// <summary>Runs the machine to its end, or until <paramref name="limit"/> has passed.</summary>
    public MachineExit Run(TimeSpan? limit = null)
    {
        var run = RunAsync();
        if (limit is { } time && !run.Wait(time))
            Stop(MachineExitKind.TimedOut, $"the time limit of {time} passed");
        return run.GetAwaiter().GetResult();
    }

    /// <summary>Stops every vCPU; the run ends with <see cref="MachineExitKind.Stopped"/> unless it had already ended otherwise.</summary>
    public void Stop(string reason) => Stop(MachineExitKind.Stopped, reason);

    private void Stop(MachineExitKind kind, string reason)
    {
        lock (_stopLock)
            _stop ??= (kind, reason);
        foreach (var vcpu in _vcpus ?? [])
            vcpu?.Kick();
    }

    private void RunVcpu(KvmSharp.Vcpu vcpu)
    {
        try
        {
            while (_stop is null)
            {
                RunResult result = vcpu.Run();
                lock (_exitLock)
                    _exits.Count(result.Reason);
                switch (result.Reason)
                {
                    case KvmExitReason.Intr:
                        continue;
                    case KvmExitReason.Io:
                        IoExit io = vcpu.Io;
                        if (io.IsOut && AcpiTables.IsPowerOff(_acpi, io.Port, io.Data))
                        {
                            Stop(MachineExitKind.PowerOff, "the guest powered off");
                            return;
                        }
                        _pio.Dispatch(io.Port, io.IsOut, io.Size, io.Count, io.Data);
                        continue;
                    case KvmExitReason.Mmio:
                        MmioExit mmio = vcpu.Mmio;
                        _mmio.Dispatch(mmio.PhysicalAddress, mmio.IsWrite, mmio.Data);
                        continue;
                    case KvmExitReason.Shutdown:
                        Stop(MachineExitKind.TripleFault, $"vCPU {vcpu.Id} triple-faulted at RIP 0x{vcpu.GetRegs().Rip:x}");
                        return;
                    default:
                        Stop(MachineExitKind.Failed, $"vCPU {vcpu.Id} stopped with {result.Reason} at RIP 0x{vcpu.GetRegs().Rip:x}");
                        return;
                }
            }
        }
        catch (KvmException e)
        {
            Stop(MachineExitKind.Failed, $"vCPU {vcpu.Id}: {e.Message}");
        }
        catch (Exception e)
        {
            // A device or kernel bug must end the run with its story, not take the host process down from a vCPU thread.
            Stop(MachineExitKind.Failed, $"vCPU {vcpu.Id} hit a VMM error: {e.GetType().Name}: {e.Message}");
        }
    }

    /// <summary>Stops the machine if it is running, waits for its vCPUs, and releases everything.</summary>
    public void Dispose()
    {
        if (_run is { IsCompleted: false } running)
        {
            Stop("the machine was disposed");
            running.Wait();
        }
        _legacy?.Dispose();
        foreach (var disk in _disks)
            disk.Dispose();
        foreach (var vcpu in _vcpus ?? [])
            vcpu?.Dispose();
        _vm?.Dispose();
        _ram.Dispose();
        _kvm.Dispose();
    }
}
