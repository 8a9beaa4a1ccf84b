using System.Runtime.InteropServices;
using Iced.Intel;
using KvmSharp.Abi;
using KvmSharp.Vmm.Guests;
using KvmSharp.Vmm.Memory;
using static Iced.Intel.AssemblerRegisters;

namespace KvmSharp.Tests.Guests;

/// <summary>
/// A VM with an in-kernel irqchip and one or more vCPUs in 64-bit ring 0, all
/// starting at the same program with their index in RDI, the local APIC base
/// in R15 and the data page in R14. The local APIC and IOAPIC pages are mapped;
/// the program installs interrupt handlers with <see cref="Builder.Gate"/>.
/// Ring-0 code is emulated on this project's Host, so programs stay short.
/// </summary>
public sealed class ApicGuest : IDisposable
{
    public const ulong MemorySize = 0x10_0000;
    public const ulong CodeAddress = 0x10000;
    public const ulong DataAddress = 0x20000;
    public const ulong StackTop = 0x30000;
    public const ulong LocalApicAddress = 0xfee00000;
    public const ulong IoapicAddress = 0xfec00000;

    /// <summary>xAPIC register offsets the guest programs use.</summary>
    public const int ApicId = 0x20, Eoi = 0xb0, LogicalDestination = 0xd0, DestinationFormat = 0xe0, SpuriousVector = 0xf0,
        IcrLow = 0x300, IcrHigh = 0x310, LvtTimer = 0x320, LvtLint0 = 0x350, TimerInitialCount = 0x380, TimerDivide = 0x3e0;

    public ApicGuest(Kvm kvm, uint vcpus, Action<Builder> program, bool withPit = false)
    {
        var setup = new LongModeSetup(MemorySize);
        setup.KernelStackTop = StackTop;
        var builder = new Builder(new Assembler(64));
        builder.Asm.mov(r15, (long)LocalApicAddress);
        builder.Asm.mov(r14, (long)DataAddress);
        program(builder);
        var placed = setup.PlaceCode(CodeAddress, builder.Asm, PageAccess.KernelWritable);
        foreach (var (vector, label) in builder.Gates)
            setup.SetInterruptGate(vector, placed.AddressOf(label));
        setup.Map(DataAddress, LongModeSetup.PageSize, PageAccess.KernelWritable);
        setup.MapDevice(LocalApicAddress, LongModeSetup.PageSize);
        setup.MapDevice(IoapicAddress, LongModeSetup.PageSize);
        setup.Map(StackTop - 8 * LongModeSetup.PageSize, 8 * LongModeSetup.PageSize, PageAccess.KernelWritable);

        Ram = new GuestRam(MemorySize);
        setup.BuildImage().CopyTo(Ram.Span);
        Vm = kvm.CreateVm();
        Vm.CreateIrqchip();
        if (withPit)
            Vm.CreatePit2();
        Vm.SetUserMemoryRegion(0, 0, MemorySize, Ram.Address);
        // The kernel's own CPUID, so the guest may use what it offers (TSC-deadline, x2APIC).
        var cpuid = kvm.GetSupportedCpuid();
        Vcpus = new Vcpu[vcpus];
        for (uint i = 0; i < vcpus; i++)
        {
            var vcpu = Vm.CreateVcpu(i);
            vcpu.SetCpuid2(cpuid);
            var sregs = vcpu.GetSregs();
            setup.ApplyTo(ref sregs, loadIdt: true);
            vcpu.SetSregs(sregs);
            var regs = LongModeSetup.InitialRegs(CodeAddress, StackTop - i * 2 * LongModeSetup.PageSize);
            regs.Rdi = i;
            vcpu.SetRegs(regs);
            Vcpus[i] = vcpu;
        }
    }

    public GuestRam Ram { get; }
    public Vm Vm { get; }
    public Vcpu[] Vcpus { get; }

    /// <summary>The 64-bit word at <paramref name="offset"/> in the data page.</summary>
    public ulong Data(int offset) => MemoryMarshal.Read<ulong>(Ram.Span[((int)DataAddress + offset)..]);

    public void SetData(int offset, ulong value) => MemoryMarshal.Write(Ram.Span[((int)DataAddress + offset)..], value);

    /// <summary>Runs <paramref name="vcpu"/> to its next exit, which must be an OUT; returns its port and value.</summary>
    public (ushort Port, uint Value) RunToOut(int vcpu)
    {
        var result = Vcpus[vcpu].Run();
        Assert.True(result.Reason == KvmExitReason.Io, $"vCPU {vcpu} exited with {result.Reason} ({result.Errno}), not an OUT.");
        var io = Vcpus[vcpu].Io;
        Assert.True(io.IsOut, $"vCPU {vcpu} exited for an IN from port 0x{io.Port:x}.");
        uint value = 0;
        for (int b = io.Data.Length - 1; b >= 0; b--)
            value = (value << 8) | io.Data[b];
        return (io.Port, value);
    }

    /// <summary>The program under construction and the interrupt gates it asks for.</summary>
    public sealed class Builder(Assembler asm)
    {
        public Assembler Asm { get; } = asm;

        public Dictionary<int, Label> Gates { get; } = [];

        /// <summary>Starts an interrupt handler for <paramref name="vector"/> here (an interrupt gate: IF clear on entry).</summary>
        public void Gate(int vector)
        {
            var label = Asm.CreateLabel();
            Asm.Label(ref label);
            Gates[vector] = label;
        }

        /// <summary>Writes a 32-bit constant to a local APIC register (xAPIC MMIO through R15).</summary>
        public void ApicWrite(int register, uint value) => Asm.mov(__dword_ptr[r15 + register], value);

        /// <summary>Software-enables the local APIC with spurious vector 0xFF.</summary>
        public void EnableApic() => ApicWrite(SpuriousVector, 0x1ff);

        /// <summary>Sends an IPI: destination (APIC ID or logical mask) first, then the command that sends it.</summary>
        public void SendIpi(uint destination, uint command)
        {
            ApicWrite(IcrHigh, destination << 24);
            ApicWrite(IcrLow, command);
        }

        /// <summary>RDTSC into RAX as one 64-bit value (clobbers RDX).</summary>
        public void ReadTsc()
        {
            Asm.rdtsc();
            Asm.shl(rdx, 32);
            Asm.or(rax, rdx);
        }

        /// <summary>Adds one to the 64-bit word at <paramref name="offset"/> in the data page, atomically.</summary>
        public void Increment(int offset) => Asm.@lock.inc(__qword_ptr[r14 + offset]);
    }

    public void Dispose()
    {
        foreach (var vcpu in Vcpus)
            vcpu.Dispose();
        Vm.Dispose();
        Ram.Dispose();
    }
}
