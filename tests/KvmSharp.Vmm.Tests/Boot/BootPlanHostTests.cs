using KvmSharp.Abi;
using KvmSharp.Kernel;
using KvmSharp.Vmm.Boot;
using KvmSharp.Vmm.Memory;
using static Iced.Intel.AssemblerRegisters;

namespace KvmSharp.Vmm.Tests.Boot;

/// <summary>A boot plan run on the real /dev/kvm: the entry state is one the hardware accepts and the kernel can use.</summary>
public class BootPlanHostTests
{
    private const ulong Ram = 64 << 20;
    private const ushort Port = 0x3F8;

    [Fact]
    public void A64BitEntryFindsBootParamsCommandLineAndInitrdThroughTheIdentityMap()
    {
        var host = new HostKernel();
        if (!host.IsAvailable())
            Assert.Skip($"{host.DevicePath} cannot be opened on this machine.");

        // What a kernel does first: read boot_params through RSI, then follow its pointers.
        var code = new Iced.Intel.Assembler(64);
        code.mov(dx, Port);
        code.mov(al, __byte_ptr[rsi + 0x202]); // 'H' of "HdrS"
        code.@out(dx, al);
        code.mov(eax, __dword_ptr[rsi + 0x228]); // cmd_line_ptr
        code.mov(al, __byte_ptr[rax]);
        code.@out(dx, al);
        code.mov(eax, __dword_ptr[rsi + 0x218]); // ramdisk_image
        code.mov(al, __byte_ptr[rax]);
        code.@out(dx, al);
        code.mov(al, __byte_ptr[rsi + 0x210]); // type_of_loader
        code.@out(dx, al);
        code.hlt();
        var image = new SyntheticBzImage { Entry64Code = KvmSharp.Vmm.Guests.AssembledCode.Assemble(code, 0x100_0200).Bytes }.Build();
        var plan = BzImageLoader.Load(image, new LinuxBootOptions { MemorySize = Ram, CommandLine = "console=ttyS0", Initrd = "initrd"u8.ToArray() });

        using var kvm = Kvm.Open(host);
        using var vm = kvm.CreateVm();
        using var ram = new GuestRam(Ram);
        vm.SetUserMemoryRegion(0, 0, Ram, ram.Address);
        using var vcpu = vm.CreateVcpu(0);
        vcpu.SetCpuid2(kvm.GetSupportedCpuid());
        plan.Load(vcpu, ram);

        var output = new List<byte>();
        while (output.Count < 4)
        {
            var exit = vcpu.Run();
            Assert.True(exit.Reason == KvmExitReason.Io, $"Exit {exit.Reason} at RIP 0x{vcpu.GetRegs().Rip:x} after {output.Count} bytes.");
            Assert.Equal(Port, vcpu.Io.Port);
            output.AddRange(vcpu.Io.Data);
        }
        Assert.Equal([(byte)'H', (byte)'c', (byte)'i', 0xFF], output);
    }

    [Fact]
    public void APvhEntryRunsIn32BitProtectedModeWithStartInfoInEbx()
    {
        var host = new HostKernel();
        if (!host.IsAvailable())
            Assert.Skip($"{host.DevicePath} cannot be opened on this machine.");

        var code = new Iced.Intel.Assembler(32);
        code.mov(dx, Port);
        code.mov(al, __byte_ptr[ebx]); // low byte of the start info magic
        code.@out(dx, al);
        code.mov(eax, __dword_ptr[ebx + 24]); // cmdline_paddr
        code.mov(al, __byte_ptr[eax]);
        code.@out(dx, al);
        code.hlt();
        byte[] text = KvmSharp.Vmm.Guests.AssembledCode.Assemble(code, 0x100_0000).Bytes;
        var elf = new SyntheticElf { Entry = 0x100_0000, PvhEntry = 0x100_0000, Segments = { (0x100_0000, 0x100_0000, text, 0x1000) } };
        var plan = KernelLoader.Load(elf.Build(), new LinuxBootOptions { MemorySize = Ram, CommandLine = "console=ttyS0" });
        Assert.Equal(EntryMode.Protected32, plan.EntryMode);

        using var kvm = Kvm.Open(host);
        using var vm = kvm.CreateVm();
        using var ram = new GuestRam(Ram);
        vm.SetUserMemoryRegion(0, 0, Ram, ram.Address);
        using var vcpu = vm.CreateVcpu(0);
        vcpu.SetCpuid2(kvm.GetSupportedCpuid());
        plan.Load(vcpu, ram);

        var output = new List<byte>();
        while (output.Count < 2)
        {
            var exit = vcpu.Run();
            Assert.True(exit.Reason == KvmExitReason.Io, $"Exit {exit.Reason} at RIP 0x{vcpu.GetRegs().Rip:x} after {output.Count} bytes.");
            output.AddRange(vcpu.Io.Data);
        }
        Assert.Equal([0x78, (byte)'c'], output);
    }
}
