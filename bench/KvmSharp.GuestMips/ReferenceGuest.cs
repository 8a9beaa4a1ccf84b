using System.Buffers.Binary;
using KvmSharp.Abi;

namespace KvmSharp.GuestMips;

/// <summary>
/// The shared reference compute guest (payload.bin) set up as its README's
/// contract asks, at CPL 3: the same memory layout, tables and registers as
/// bench/c/guestmips.c (bench/c/README.md), so both run identical guest bytes.
/// </summary>
internal static class ReferenceGuest
{
    public const ulong MemoryBytes = 64UL << 20;
    public const ulong PayloadAddress = 0x100000;
    public const ushort OutputPort = 0xE9, StopPort = 0xF4;

    /// <summary>Instructions from entry to the stop OUT inclusive, per the README's formula.</summary>
    public static double Instructions(int rounds, int words) =>
        18509 + 13.0 * words + (rounds > 0 ? 8 : 0) + rounds * (23 + 24.5 * words);

    public static void Load(Span<byte> ram, ReadOnlySpan<byte> payload)
    {
        ram.Clear();
        payload.CopyTo(ram[(int)PayloadAddress..]);
        // PML4 at 0x1000 → PDPT at 0x2000 → PD at 0x3000: 2 MiB user pages over the first 64 MiB.
        BinaryPrimitives.WriteUInt64LittleEndian(ram[0x1000..], 0x2000 | 7);
        BinaryPrimitives.WriteUInt64LittleEndian(ram[0x2000..], 0x3000 | 7);
        for (int i = 0; i < 32; i++)
            BinaryPrimitives.WriteUInt64LittleEndian(ram[(0x3000 + i * 8)..], ((ulong)i << 21) | 0x87);
        // TSS at 0x5000 with its I/O bitmap at +0x68 allowing every port (kvm_pvm checks it even at IOPL 3).
        BinaryPrimitives.WriteUInt16LittleEndian(ram[(0x5000 + 0x66)..], 0x68);
        ram[0x7068] = 0xff;
    }

    public static void SetRegisters(Vcpu vcpu, int rounds, int words)
    {
        var sregs = vcpu.GetSregs();
        sregs.Cs = new KvmSegment { Selector = 0x2b, Limit = 0xffffffff, Type = 11, Present = 1, Dpl = 3, S = 1, L = 1, G = 1 };
        var data = new KvmSegment { Selector = 0x23, Limit = 0xffffffff, Type = 3, Present = 1, Dpl = 3, S = 1, Db = 1, G = 1 };
        sregs.Ds = sregs.Es = sregs.Fs = sregs.Gs = sregs.Ss = data;
        sregs.Tr = new KvmSegment { Selector = 0x30, Base = 0x5000, Limit = 0x2068, Type = 11, Present = 1 };
        sregs.Ldt = new KvmSegment { Type = 2, Unusable = 1 };
        sregs.Cr0 = 0x80050033;
        sregs.Cr3 = 0x1000;
        sregs.Cr4 = 0x620;
        sregs.Efer = 0x500;
        vcpu.SetSregs(sregs);
        vcpu.SetRegs(new KvmRegs { Rip = PayloadAddress, Rsp = 0x8fff8, Rdi = (ulong)rounds, Rsi = (ulong)words, Rflags = 0x3002 });
    }
}
