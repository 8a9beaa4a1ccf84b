using Iced.Intel;
using KvmSharp.Vmm.Guests;
using KvmSharp.Vmm.Tests.Boot;
using static Iced.Intel.AssemblerRegisters;

namespace KvmSharp.Vmm.Tests.Machines;

/// <summary>
/// A few instructions, assembled with Iced and wrapped in an ELF "vmlinux" that
/// LinuxMachine boots like a kernel (64-bit entry, identity-mapped 4 GiB), with
/// optional data segments. It exercises the machine without a minute of Linux.
/// </summary>
public sealed class TinyGuest
{
    public const ulong CodeAddress = 0x100000;
    public const ushort Com1 = 0x3F8;

    public Assembler Code { get; } = new(64);

    public List<(ulong Address, byte[] Bytes)> Data { get; } = [];

    /// <summary>Writes AL to COM1 (no FIFO wait needed: the UART's transmitter is always empty).</summary>
    public void PrintAl()
    {
        Code.mov(dx, Com1);
        Code.@out(dx, al);
    }

    public void Print(string text)
    {
        foreach (char c in text)
        {
            Code.mov(al, (byte)c);
            PrintAl();
        }
    }

    /// <summary>Echoes COM1 input back upper-cased (polling the line status register) until a '.' arrives, then powers off.</summary>
    public void EchoUppercasedUntilDotThenPowerOff()
    {
        var poll = Code.CreateLabel();
        var done = Code.CreateLabel();
        Code.Label(ref poll);
        Code.mov(dx, (ushort)(Com1 + 5));   // LSR
        Code.@in(al, dx);
        Code.test(al, 1);                   // data ready
        Code.jz(poll);
        Code.mov(dx, Com1);
        Code.@in(al, dx);
        Code.cmp(al, (byte)'.');
        Code.je(done);
        Code.and(al, 0xDF);
        PrintAl();
        Code.jmp(poll);
        Code.Label(ref done);
        PowerOff();
    }

    /// <summary>The ACPI power-off: SLP_TYP 5 with SLP_EN to the sleep control port.</summary>
    public void PowerOff()
    {
        Code.mov(dx, (ushort)0x3C0);
        Code.mov(al, (byte)((5 << 2) | 0x20));
        Code.@out(dx, al);
        Hang();
    }

    public void Hang()
    {
        var again = Code.CreateLabel();
        Code.Label(ref again);
        Code.hlt();
        Code.jmp(again);
    }

    /// <summary>The guest as an ELF file in a temporary path; the caller deletes it.</summary>
    public string WriteElf()
    {
        var code = AssembledCode.Assemble(Code, CodeAddress);
        var elf = new SyntheticElf { Entry = CodeAddress };
        elf.Segments.Add((CodeAddress, CodeAddress, code.Bytes, (ulong)code.Bytes.Length));
        foreach (var (address, bytes) in Data)
            elf.Segments.Add((address, address, bytes, (ulong)bytes.Length));
        string path = Path.Combine(Path.GetTempPath(), $"kvmsharp-tiny-guest-{Guid.NewGuid():N}.elf");
        File.WriteAllBytes(path, elf.Build());
        return path;
    }
}
