using Iced.Intel;
using KvmSharp.Abi;

namespace KvmSharp.Tests;

/// <summary>
/// A VM with one slot and one vCPU in real mode at <see cref="CodeAddress"/>,
/// the smallest guest both kernels run. Real-mode code is emulated on this
/// project's Host (kvm_pvm), so test programs stay a few instructions long.
/// </summary>
public sealed class RealModeGuest : IDisposable
{
    public const ulong CodeAddress = 0x1000;

    public RealModeGuest(Kvm kvm, Action<Assembler> program, ulong memorySize = 0x10000, bool withIrqchipAndPit = false)
    {
        Memory = new GuestMemory(memorySize);
        Vm = kvm.CreateVm();
        if (withIrqchipAndPit)
        {
            // Before the vCPU: its local APIC is made with it.
            Vm.CreateIrqchip();
            Vm.CreatePit2();
        }
        Vm.SetUserMemoryRegion(0, 0, memorySize, Memory.Pointer);
        Vcpu = Vm.CreateVcpu(0);
        Load(program);
        var sregs = Vcpu.GetSregs();
        sregs.Cs.Base = 0;
        sregs.Cs.Selector = 0;
        Vcpu.SetSregs(sregs);
        Vcpu.SetRegs(new KvmRegs { Rip = CodeAddress, Rflags = 0x2, Rsp = 0x8000 });
    }

    public GuestMemory Memory { get; }
    public Vm Vm { get; }
    public Vcpu Vcpu { get; }

    public void Load(Action<Assembler> program)
    {
        var asm = new Assembler(16);
        program(asm);
        Memory.Write(CodeAddress, Assemble(asm, CodeAddress));
    }

    public static byte[] Assemble(Assembler asm, ulong address)
    {
        var stream = new MemoryStream();
        asm.Assemble(new StreamCodeWriter(stream), address);
        return stream.ToArray();
    }

    public void Dispose()
    {
        Vcpu.Dispose();
        Vm.Dispose();
        Memory.Dispose();
    }
}
