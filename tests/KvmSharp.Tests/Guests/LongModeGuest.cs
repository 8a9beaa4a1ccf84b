using Iced.Intel;
using KvmSharp.Abi;
using KvmSharp.Vmm.Guests;
using KvmSharp.Vmm.Memory;
using static Iced.Intel.AssemblerRegisters;

namespace KvmSharp.Tests.Guests;

/// <summary>
/// A one-vCPU VM in 64-bit long mode at ring 0 with an IDT whose handlers for
/// #DE, #UD, #GP and #PF report the exception on ports: vector to
/// <see cref="VectorPort"/>, error code to <see cref="ErrorCodePort"/>, the
/// faulting RIP to <see cref="RipPort"/> and CR2 to <see cref="Cr2Port"/>, then halt.
/// Ring-0 code is emulated on this project's Host, so programs stay short.
/// </summary>
public sealed class LongModeGuest : IDisposable
{
    public const ulong MemorySize = 0x10_0000;
    public const ulong CodeAddress = 0x10000;
    public const ulong HandlerAddress = 0x18000;
    public const ulong DataAddress = 0x20000;
    public const ulong ReadOnlyDataAddress = 0x21000;
    public const ulong StackTop = 0x30000;
    public const byte VectorPort = 0xf0, ErrorCodePort = 0xf1, RipPort = 0xf2, Cr2Port = 0xf3;
    /// <summary>The optional external-interrupt handler writes its vector here, then halts.</summary>
    public const byte InterruptPort = 0xf8;
    private static readonly int[] s_handledVectors = [0, 6, 13, 14];
    private static readonly int[] s_vectorsWithErrorCode = [13, 14];

    public LongModeGuest(Kvm kvm, Action<Assembler> program, bool withHandlers = true, uint vcpus = 1,
        byte? interruptVector = null, bool mapLocalApic = false, bool withIrqchip = false)
    {
        var setup = new LongModeSetup(MemorySize);
        setup.KernelStackTop = StackTop;
        var code = new Assembler(64);
        program(code);
        Program = setup.PlaceCode(CodeAddress, code, PageAccess.KernelWritable);
        if (withHandlers)
        {
            var handlers = new Assembler(64);
            var entries = new Dictionary<int, Label>();
            foreach (int vector in s_handledVectors)
            {
                var entry = handlers.CreateLabel();
                handlers.Label(ref entry);
                entries[vector] = entry;
                handlers.mov(eax, vector);
                handlers.@out(VectorPort, eax);
                if (s_vectorsWithErrorCode.Contains(vector))
                {
                    handlers.pop(rax);
                    handlers.@out(ErrorCodePort, eax);
                }
                handlers.mov(rax, __qword_ptr[rsp]);
                handlers.@out(RipPort, eax);
                handlers.mov(rax, cr2);
                handlers.@out(Cr2Port, eax);
                handlers.hlt();
            }
            var external = handlers.CreateLabel();
            if (interruptVector is byte irqVector)
            {
                handlers.Label(ref external);
                handlers.mov(eax, irqVector);
                handlers.@out(InterruptPort, al);
                handlers.hlt();
            }
            var placed = setup.PlaceCode(HandlerAddress, handlers, PageAccess.KernelReadOnly);
            foreach (var (vector, label) in entries)
                setup.SetInterruptGate(vector, placed.AddressOf(label));
            if (interruptVector is byte gateVector)
                setup.SetInterruptGate(gateVector, placed.AddressOf(external));
        }
        setup.Map(DataAddress, LongModeSetup.PageSize, PageAccess.KernelWritable);
        if (mapLocalApic)
            setup.MapDevice(0xfee00000, LongModeSetup.PageSize);
        setup.Map(ReadOnlyDataAddress, LongModeSetup.PageSize, PageAccess.KernelReadOnly);
        setup.Map(StackTop - 4 * LongModeSetup.PageSize, 4 * LongModeSetup.PageSize, PageAccess.KernelWritable);

        Ram = new GuestRam(MemorySize);
        setup.BuildImage().CopyTo(Ram.Span);
        Vm = kvm.CreateVm();
        if (withIrqchip)
            Vm.CreateIrqchip();
        Vm.SetUserMemoryRegion(0, 0, MemorySize, Ram.Address);
        Vcpus = new Vcpu[vcpus];
        for (uint i = 0; i < vcpus; i++)
        {
            var vcpu = Vm.CreateVcpu(i);
            var sregs = vcpu.GetSregs();
            setup.ApplyTo(ref sregs, loadIdt: true);
            vcpu.SetSregs(sregs);
            // Each vCPU gets its own stack page and its index in RDI.
            var regs = LongModeSetup.InitialRegs(CodeAddress, StackTop - i * LongModeSetup.PageSize);
            regs.Rdi = i;
            vcpu.SetRegs(regs);
            Vcpus[i] = vcpu;
        }
    }

    public AssembledCode Program { get; }
    public GuestRam Ram { get; }
    public Vm Vm { get; }
    public Vcpu[] Vcpus { get; }
    public Vcpu Vcpu => Vcpus[0];

    /// <summary>Runs until HLT or another non-I/O exit; returns the OUTs (port → value) seen, in order.</summary>
    public (KvmExitReason Exit, List<(ushort Port, ulong Value)> Outs) RunToEnd(int vcpu = 0, int maxExits = 1000)
    {
        var outs = new List<(ushort, ulong)>();
        for (int i = 0; i < maxExits; i++)
        {
            var result = Vcpus[vcpu].Run();
            if (result.Reason != KvmExitReason.Io)
                return (result.Reason, outs);
            var io = Vcpus[vcpu].Io;
            ulong value = 0;
            for (int b = io.Data.Length - 1; b >= 0; b--)
                value = (value << 8) | io.Data[b];
            outs.Add((io.Port, value));
        }
        throw new InvalidOperationException($"The guest made more than {maxExits} I/O exits.");
    }

    /// <summary>What the exception handlers reported.</summary>
    public sealed record Report(ulong Vector, ulong ErrorCode, ulong Rip, ulong Cr2)
    {
        public static Report From(List<(ushort Port, ulong Value)> outs)
        {
            ulong Value(ushort port) => outs.Where(o => o.Port == port).Select(o => o.Value).LastOrDefault();
            Assert.Contains(outs, o => o.Port == VectorPort);
            return new Report(Value(VectorPort), Value(ErrorCodePort), Value(RipPort), Value(Cr2Port));
        }
    }

    public void Dispose()
    {
        foreach (var vcpu in Vcpus)
            vcpu.Dispose();
        Vm.Dispose();
        Ram.Dispose();
    }
}
