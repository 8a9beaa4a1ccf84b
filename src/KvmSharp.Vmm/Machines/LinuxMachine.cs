using System.Diagnostics;
using KvmSharp.Abi;
using KvmSharp.Kernel;
using KvmSharp.Vmm.Acpi;
using KvmSharp.Vmm.Boot;
using KvmSharp.Vmm.Devices;
using KvmSharp.Vmm.Devices.Legacy;
using KvmSharp.Vmm.Memory;

namespace KvmSharp.Vmm.Machines;

/// <summary>What to boot and with what.</summary>
public sealed record LinuxMachineOptions
{
    public required string KernelPath { get; init; }
    public string? InitrdPath { get; init; }
    public string CommandLine { get; init; } = "console=ttyS0";
    public ulong MemoryBytes { get; init; } = 256UL << 20;
    public int Cpus { get; init; } = 1;
    /// <summary>Where the guest's COM1 output goes.</summary>
    public Stream SerialOutput { get; init; } = Stream.Null;
}

/// <summary>How a machine's run ended.</summary>
public sealed record MachineExit(string Reason, TimeSpan WallTime, ExitCounter Exits);

/// <summary>
/// A PC-like machine that boots a Linux kernel: RAM, the in-kernel irqchip and
/// PIT, ACPI tables, COM1/RTC/i8042, one thread per vCPU. The first cut of the
/// embedding API; virtio devices and a console input come next.
/// </summary>
public sealed class LinuxMachine : IDisposable
{
    private readonly Kvm _kvm;
    private readonly GuestRam _ram;
    private readonly KvmSharp.Vm _vm;
    private readonly KvmSharp.Vcpu[] _vcpus;
    private readonly PioBus _pio = new();
    private readonly MmioBus _mmio = new();
    private readonly PcLegacyDevices _legacy;
    private readonly AcpiOptions _acpi;
    private readonly ExitCounter _exits = new();
    private readonly Lock _exitLock = new();
    private volatile string? _stopReason;

    public LinuxMachine(IKvmKernel kernel, LinuxMachineOptions options)
    {
        if (options.MemoryBytes > 3UL << 30)
            throw new ArgumentOutOfRangeException(nameof(options), "This first machine supports guests of up to 3 GiB.");
        _kvm = Kvm.Open(kernel);
        _ram = new GuestRam(options.MemoryBytes);
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

        _acpi = new AcpiOptions { Cpus = options.Cpus };
        _legacy = new PcLegacyDevices(_pio, options.SerialOutput,
            irq => new ChangeOnlyInterruptLine(level => _vm.IrqLine((uint)irq, level)),
            () => Stop("the guest asked for a reset"));
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
    }

    public ExitCounter Exits => _exits;

    /// <summary>Serial input for the guest's COM1 (a terminal, a pipe…), read on its own thread.</summary>
    public void ConnectSerialInput(Stream input) => _legacy.Com1.PumpFrom(input);

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

    /// <summary>Runs every vCPU on its own thread until the guest powers off, resets, faults or <see cref="Stop"/> is called.</summary>
    public MachineExit Run(TimeSpan? limit = null)
    {
        var clock = Stopwatch.StartNew();
        var threads = _vcpus.Select((vcpu, i) => new Thread(() => RunVcpu(vcpu)) { Name = $"vCPU {i}", IsBackground = true }).ToArray();
        foreach (var thread in threads)
            thread.Start();
        if (!threads[0].Join(limit ?? Timeout.InfiniteTimeSpan))
            Stop($"the time limit of {limit} passed");
        foreach (var thread in threads)
            thread.Join();
        return new MachineExit(_stopReason ?? "stopped", clock.Elapsed, _exits);
    }

    public void Stop(string reason)
    {
        _stopReason ??= reason;
        foreach (var vcpu in _vcpus)
            vcpu.Kick();
    }

    private void RunVcpu(KvmSharp.Vcpu vcpu)
    {
        try
        {
            while (_stopReason is null)
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
                            Stop("the guest powered off");
                            return;
                        }
                        _pio.Dispatch(io.Port, io.IsOut, io.Size, io.Count, io.Data);
                        continue;
                    case KvmExitReason.Mmio:
                        MmioExit mmio = vcpu.Mmio;
                        _mmio.Dispatch(mmio.PhysicalAddress, mmio.IsWrite, mmio.Data);
                        continue;
                    case KvmExitReason.Shutdown:
                        Stop($"vCPU {vcpu.Id} triple-faulted at RIP 0x{vcpu.GetRegs().Rip:x}");
                        return;
                    default:
                        Stop($"vCPU {vcpu.Id} stopped with {result.Reason} at RIP 0x{vcpu.GetRegs().Rip:x}");
                        return;
                }
            }
        }
        catch (KvmException e)
        {
            Stop($"vCPU {vcpu.Id}: {e.Message}");
        }
    }

    public void Dispose()
    {
        _legacy.Dispose();
        foreach (var vcpu in _vcpus)
            vcpu.Dispose();
        _vm.Dispose();
        _ram.Dispose();
        _kvm.Dispose();
    }
}
