using System.Diagnostics;
using KvmSharp.Abi;
using KvmSharp.Kernel;
using KvmSharp.Vmm.Guests;
using KvmSharp.Vmm.Memory;

namespace KvmSharp.Vmm.Machines;

/// <summary>How a run of the default guest ended.</summary>
public enum GuestOutcome
{
    /// <summary>The guest wrote its power-off value: the normal end.</summary>
    PoweredOff,
    /// <summary>The guest reported an exception it could not handle (its panic port).</summary>
    GuestFault,
    /// <summary>Triple fault: KVM_EXIT_SHUTDOWN.</summary>
    TripleFault,
    /// <summary>The kernel could not run an instruction: KVM_EXIT_INTERNAL_ERROR.</summary>
    InternalError,
    /// <summary>An exit the default guest never causes.</summary>
    UnexpectedExit,
}

/// <summary>What a run did: the end, the exits by reason, the time, the kernel.</summary>
public sealed record RunSummary(string Kernel, GuestOutcome Outcome, string Detail, ExitCounter Exits, TimeSpan WallTime, long ConsoleBytes);

/// <summary>
/// Runs the embedded default guest: one vCPU, its RAM in slot 0, COM1 output
/// copied to <c>console</c>, until it powers off or fails.
/// </summary>
public static class DefaultGuestMachine
{
    public static RunSummary Run(IKvmKernel kernel, ulong memoryBytes, Stream console)
    {
        if (memoryBytes < DefaultGuest.MemorySize)
            throw new ArgumentOutOfRangeException(nameof(memoryBytes), $"The default guest needs at least {DefaultGuest.MemorySize >> 10} KiB of memory; {memoryBytes >> 10} KiB was asked for.");
        var clock = Stopwatch.StartNew();
        using var kvm = Kvm.Open(kernel);
        using var ram = new GuestRam(memoryBytes);
        using var vm = kvm.CreateVm();
        vm.SetUserMemoryRegion(0, 0, ram.Size, ram.Address);
        using var vcpu = vm.CreateVcpu(0);
        DefaultGuest.Build().Load(vcpu, ram.Slice(0, checked((int)DefaultGuest.MemorySize)));

        var exits = new ExitCounter();
        long consoleBytes = 0;
        while (true)
        {
            RunResult result = vcpu.Run();
            exits.Count(result.Reason);
            if (result.Interrupted)
                continue;
            switch (result.Reason)
            {
                case KvmExitReason.Io:
                    IoExit io = vcpu.Io;
                    if (DefaultGuest.IsPowerOff(io.IsOut, io.Port, io.Size, io.Data))
                        return Finish(GuestOutcome.PoweredOff, "the guest powered off");
                    if (io.IsOut && io.Port == DefaultGuest.Com1Port)
                    {
                        console.Write(io.Data);
                        consoleBytes += io.Data.Length;
                        continue;
                    }
                    if (io.IsOut && io.Port == DefaultGuest.PanicPort)
                        return Finish(GuestOutcome.GuestFault, $"the guest took exception vector {io.Data[0]} at RIP 0x{vcpu.GetRegs().Rip:x}");
                    return Finish(GuestOutcome.UnexpectedExit, $"port {(io.IsOut ? "write to" : "read from")} 0x{io.Port:x}");
                case KvmExitReason.Shutdown:
                    return Finish(GuestOutcome.TripleFault, $"triple fault at RIP 0x{vcpu.GetRegs().Rip:x}");
                case KvmExitReason.InternalError:
                    return Finish(GuestOutcome.InternalError, $"the {kernel.Name} kernel could not execute the instruction at RIP 0x{vcpu.GetRegs().Rip:x} (suberror {vcpu.RunBlock.Internal.Suberror})");
                default:
                    return Finish(GuestOutcome.UnexpectedExit, $"exit {result.Reason} at RIP 0x{vcpu.GetRegs().Rip:x}");
            }
        }

        RunSummary Finish(GuestOutcome outcome, string detail)
        {
            console.Flush();
            return new RunSummary(kernel.Name, outcome, detail, exits, clock.Elapsed, consoleBytes);
        }
    }
}
