using System.Buffers.Binary;
using KvmSharp.Abi;
using KvmSharp.Tests.Guests;
using static Iced.Intel.AssemblerRegisters;
using static KvmSharp.Tests.Guests.ApicGuest;

namespace KvmSharp.Tests.Platform;

/// <summary>kvmclock as a guest uses it: the MSRs, the pvclock and wall-clock structures, KVM_KVMCLOCK_CTRL and KVM_SET_CLOCK.</summary>
public class KvmclockGuestTests
{
    private const uint MsrWallClockNew = 0x4b564d00, MsrSystemTimeNew = 0x4b564d01;
    private const int TimeInfoOffset = 0x800, WallClockOffset = 0x900, TscOffset = 0x40;
    private const byte TscStable = 1, GuestStopped = 2;
    /// <summary>How far apart the guest's kvmclock and KVM_GET_CLOCK may be, beyond the window the guest read in.</summary>
    private const long ToleranceNanoseconds = 1_000_000;

    [Theory]
    [MemberData(nameof(Kernels.All), MemberType = typeof(Kernels))]
    public void KvmclockIsAdvertisedAsKvmDoes(string kernel)
    {
        using var kvm = Kernels.Open(kernel);
        var cpuid = kvm.GetSupportedCpuid();
        var signature = Assert.Single(cpuid, e => e.Function == 0x40000000);
        Assert.True(signature.Eax >= 0x40000001, $"leaf 0x40000000 says the last leaf is 0x{signature.Eax:x}.");
        Assert.Equal((0x4b4d564bu, 0x564b4d56u, 0x4du), (signature.Ebx, signature.Ecx, signature.Edx)); // "KVMKVMKVM\0\0\0"
        uint features = Assert.Single(cpuid, e => e.Function == 0x40000001).Eax;
        Assert.True((features & (1 << 3)) != 0, $"KVM_FEATURE_CLOCKSOURCE2 is missing from 0x{features:x}.");
        Assert.Contains(MsrSystemTimeNew, kvm.GetMsrIndexList());
        Assert.Contains(MsrWallClockNew, kvm.GetMsrIndexList());
        Assert.Equal(1, kvm.CheckExtension(KvmCap.KvmclockCtrl));
    }

    [Theory]
    [MemberData(nameof(Kernels.All), MemberType = typeof(Kernels))]
    public void TheGuestReadsKvmclockTimeAndKvmclockCtrlFlagsItStopped(string kernel)
    {
        using var kvm = Kernels.Open(kernel);
        using var guest = new ApicGuest(kvm, 1, g =>
        {
            var a = g.Asm;
            a.xor(edx, edx);
            a.mov(ecx, MsrSystemTimeNew);
            a.mov(eax, (uint)DataAddress + TimeInfoOffset + 1);     // Bit 0: enable.
            a.wrmsr();
            a.mov(ecx, MsrWallClockNew);
            a.mov(eax, (uint)DataAddress + WallClockOffset);
            a.wrmsr();
            for (byte port = 0x10; port <= 0x11; port++)
            {
                g.ReadTsc();
                a.mov(__qword_ptr[r14 + TscOffset], rax);
                a.@out((byte)port, al);
            }
            a.hlt();
        });
        var vcpu = guest.Vcpus[0];

        long before = (long)guest.Vm.GetClock().Clock;
        Assert.Equal(0x10, guest.RunToOut(0).Port);
        long after = (long)guest.Vm.GetClock().Clock;
        var first = TimeInfo.Read(guest);
        Assert.True(first.Version != 0 && first.Version % 2 == 0, $"pvclock version {first.Version}: not written, or left mid-update.");
        Assert.NotEqual(0u, first.Multiplier);
        Assert.Equal(0, first.Flags & GuestStopped);
        Assert.InRange(first.NanosecondsAt(guest.Data(TscOffset)), before - ToleranceNanoseconds, after + ToleranceNanoseconds);
        Span<KvmMsrEntry> msrs = [new KvmMsrEntry { Index = MsrSystemTimeNew }, new KvmMsrEntry { Index = MsrWallClockNew }];
        Assert.Equal(2, vcpu.GetMsrs(msrs));
        Assert.Equal(DataAddress + TimeInfoOffset + 1, msrs[0].Data);
        Assert.Equal(DataAddress + WallClockOffset, msrs[1].Data);

        // The wall clock: real time at which kvmclock was zero.
        var wall = guest.Ram.Span[(int)(DataAddress + WallClockOffset)..];
        uint wallVersion = BinaryPrimitives.ReadUInt32LittleEndian(wall);
        Assert.True(wallVersion != 0 && wallVersion % 2 == 0, $"wall clock version {wallVersion}.");
        double bootSeconds = BinaryPrimitives.ReadUInt32LittleEndian(wall[4..]) + BinaryPrimitives.ReadUInt32LittleEndian(wall[8..]) / 1e9;
        double nowSeconds = (DateTime.UtcNow - DateTime.UnixEpoch).TotalSeconds;
        Assert.InRange(bootSeconds + after / 1e9, nowSeconds - 2, nowSeconds + 2);

        // A VMM that paused the guest says so, then moves the clock: both show at the next entry.
        vcpu.KvmclockCtrl();
        long moved = after + 10_000_000_000;
        guest.Vm.SetClock(new KvmClockData { Clock = (ulong)moved });
        before = (long)guest.Vm.GetClock().Clock;
        Assert.Equal(0x11, guest.RunToOut(0).Port);
        after = (long)guest.Vm.GetClock().Clock;
        var second = TimeInfo.Read(guest);
        Assert.True(second.Version > first.Version && second.Version % 2 == 0, $"pvclock version went from {first.Version} to {second.Version}.");
        Assert.Equal(GuestStopped, second.Flags & GuestStopped);
        Assert.InRange(second.NanosecondsAt(guest.Data(TscOffset)), before - ToleranceNanoseconds, after + ToleranceNanoseconds);
    }

    [Theory]
    [MemberData(nameof(Kernels.All), MemberType = typeof(Kernels))]
    public void AHostWrittenSystemTimeMsrFillsThePageOnlyAtTheNextEntry(string kernel)
    {
        using var kvm = Kernels.Open(kernel);
        using var guest = new ApicGuest(kvm, 1, g => g.Asm.@out(0x10, al));
        Assert.Equal(1, guest.Vcpus[0].SetMsrs([new KvmMsrEntry { Index = MsrSystemTimeNew, Data = DataAddress + TimeInfoOffset + 1 }]));
        Assert.Equal(0u, TimeInfo.Read(guest).Version);
        Assert.Equal(0x10, guest.RunToOut(0).Port);
        Assert.Equal(2u, TimeInfo.Read(guest).Version);
    }

    /// <summary>struct pvclock_vcpu_time_info as the guest sees it.</summary>
    private readonly record struct TimeInfo(uint Version, ulong TscTimestamp, long SystemTime, uint Multiplier, sbyte Shift, byte Flags)
    {
        public static TimeInfo Read(ApicGuest guest)
        {
            var bytes = guest.Ram.Span[(int)(DataAddress + TimeInfoOffset)..];
            return new TimeInfo(
                BinaryPrimitives.ReadUInt32LittleEndian(bytes),
                BinaryPrimitives.ReadUInt64LittleEndian(bytes[8..]),
                BinaryPrimitives.ReadInt64LittleEndian(bytes[16..]),
                BinaryPrimitives.ReadUInt32LittleEndian(bytes[24..]),
                (sbyte)bytes[28],
                bytes[29]);
        }

        /// <summary>The guest's formula: system_time + (((tsc - tsc_timestamp) shifted by tsc_shift) × mul) >> 32.</summary>
        public long NanosecondsAt(ulong tsc)
        {
            ulong delta = tsc - TscTimestamp;
            delta = Shift >= 0 ? delta << Shift : delta >> -Shift;
            return SystemTime + (long)(((UInt128)delta * Multiplier) >> 32);
        }
    }
}
