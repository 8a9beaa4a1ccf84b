using System.Runtime.InteropServices;
using Iced.Intel;
using KvmSharp.Abi;
using KvmSharp.Vmm.Guests;
using KvmSharp.Vmm.Memory;
using static Iced.Intel.AssemblerRegisters;

namespace KvmSharp.PlatformBench;

/// <summary>
/// The benchmarks' guest: a VM with an in-kernel irqchip and N vCPUs in 64-bit
/// ring 0, all starting at one program with their index in RDI, the local APIC
/// base in R15 and a shared data page in R14. APs are made runnable directly.
/// </summary>
public sealed class PlatformGuest : IDisposable
{
    public const ulong MemorySize = 0x10_0000;
    public const ulong CodeAddress = 0x10000;
    public const ulong DataAddress = 0x20000;
    public const ulong StackTop = 0x30000;
    public const ulong LocalApicAddress = 0xfee00000;
    public const int Eoi = 0xb0, SpuriousVector = 0xf0, IcrLow = 0x300, IcrHigh = 0x310, LvtTimer = 0x320,
        TimerInitialCount = 0x380, TimerDivide = 0x3e0;

    public PlatformGuest(Kvm kvm, uint vcpus, Action<Assembler, Dictionary<int, Label>> program)
    {
        var setup = new LongModeSetup(MemorySize);
        setup.KernelStackTop = StackTop;
        var asm = new Assembler(64);
        var gates = new Dictionary<int, Label>();
        asm.mov(r15, (long)LocalApicAddress);
        asm.mov(r14, (long)DataAddress);
        asm.mov(__dword_ptr[r15 + SpuriousVector], 0x1ff);         // Software-enable the local APIC.
        program(asm, gates);
        var placed = setup.PlaceCode(CodeAddress, asm, PageAccess.KernelWritable);
        foreach (var (vector, label) in gates)
            setup.SetInterruptGate(vector, placed.AddressOf(label));
        setup.Map(DataAddress, LongModeSetup.PageSize, PageAccess.KernelWritable);
        setup.MapDevice(LocalApicAddress, LongModeSetup.PageSize);
        setup.Map(StackTop - 8 * LongModeSetup.PageSize, 8 * LongModeSetup.PageSize, PageAccess.KernelWritable);

        Ram = new GuestRam(MemorySize);
        setup.BuildImage().CopyTo(Ram.Span);
        Vm = kvm.CreateVm();
        Vm.CreateIrqchip();
        Vm.SetUserMemoryRegion(0, 0, MemorySize, Ram.Address);
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
            if (i > 0)
                vcpu.SetMpState(KvmMpState.Runnable);
            Vcpus[i] = vcpu;
        }
    }

    public GuestRam Ram { get; }
    public Vm Vm { get; }
    public Vcpu[] Vcpus { get; }

    /// <summary>The 64-bit word at <paramref name="offset"/> in the data page, read as another CPU would.</summary>
    public ulong Data(int offset) => Volatile.Read(ref MemoryMarshal.AsRef<ulong>(Ram.Span[((int)DataAddress + offset)..]));

    public void SetData(int offset, ulong value) => MemoryMarshal.Write(Ram.Span[((int)DataAddress + offset)..], value);

    /// <summary>Runs a vCPU to its next exit, which must be an OUT to <paramref name="port"/>.</summary>
    public void RunToOut(int vcpu, ushort port)
    {
        var result = Vcpus[vcpu].Run();
        if (result.Reason != KvmExitReason.Io || Vcpus[vcpu].Io.Port != port)
            throw new InvalidOperationException($"vCPU {vcpu} stopped with {result.Reason} ({result.Errno}), not an OUT to port 0x{port:x}.");
    }

    /// <summary>Starts a thread that runs the vCPU until a kick, rethrowing nothing: failures land in <paramref name="failure"/>.</summary>
    public Thread RunUntilKicked(int vcpu, Action<Exception> failure)
    {
        var thread = new Thread(() =>
        {
            try
            {
                var result = Vcpus[vcpu].Run();
                if (result.Reason != KvmExitReason.Intr)
                    failure(new InvalidOperationException($"vCPU {vcpu} stopped with {result.Reason}, not a kick."));
            }
            catch (Exception e)
            {
                failure(e);
            }
        }) { IsBackground = true, Name = $"vcpu{vcpu}" };
        thread.Start();
        return thread;
    }

    public void Dispose()
    {
        foreach (var vcpu in Vcpus)
            vcpu.Dispose();
        Vm.Dispose();
        Ram.Dispose();
    }
}
