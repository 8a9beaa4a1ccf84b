using KvmSharp.Abi;

namespace KvmSharp.Soft.Model;

/// <summary>
/// The processor Soft presents: the CPUID leaves KVM_GET_SUPPORTED_CPUID
/// reports and the MSRs KVM_GET_MSR_INDEX_LIST lists. Every feature bit set
/// here is one the Soft CPU implements; nothing more is advertised.
/// </summary>
internal static class CpuModel
{
    // Leaf 1 EDX bits.
    private const uint Fpu = 1u << 0, Pse = 1u << 3, Tsc = 1u << 4, Msr = 1u << 5, Pae = 1u << 6,
        Cx8 = 1u << 8, Sep = 1u << 11, Pge = 1u << 13, Cmov = 1u << 15, Pat = 1u << 16, Pse36 = 1u << 17,
        Apic = 1u << 9, Mmx = 1u << 23, Fxsr = 1u << 24, Sse = 1u << 25, Sse2 = 1u << 26;
    // Leaf 1 ECX bits.
    private const uint Sse3 = 1u << 0, Ssse3 = 1u << 9, Sse41 = 1u << 19, Sse42 = 1u << 20, Cx16 = 1u << 13, X2Apic = 1u << 21, Movbe = 1u << 22,
        Popcnt = 1u << 23, TscDeadline = 1u << 24, Rdrand = 1u << 30;
    // Leaf 0x80000001 EDX / ECX bits.
    private const uint Syscall = 1u << 11, Nx = 1u << 20, Page1G = 1u << 26, Rdtscp = 1u << 27, LongMode = 1u << 29;
    private const uint LahfLm = 1u << 0, Abm = 1u << 5;

    /// <summary>"KvmSharpSoft" as CPUID leaf 0 spells a vendor: EBX, EDX, ECX.</summary>
    private const uint VendorEbx = 0x536d764b, VendorEdx = 0x70726168, VendorEcx = 0x74666f53;

    public static readonly KvmCpuidEntry2[] SupportedCpuid =
    [
        new() { Function = 0, Eax = 1, Ebx = VendorEbx, Ecx = VendorEcx, Edx = VendorEdx },
        // Family 6, model 0x2a-like signature. APIC, x2APIC and TSC-deadline come
        // from the in-kernel local APIC, usable once the VMM creates the irqchip.
        new() { Function = 1, Eax = 0x000206a0, Ecx = Sse3 | Ssse3 | Sse41 | Sse42 | Cx16 | X2Apic | Movbe | Popcnt | TscDeadline | Rdrand,
                Edx = Fpu | Pse | Tsc | Msr | Pae | Cx8 | Apic | Sep | Pge | Cmov | Pat | Pse36 | Mmx | Fxsr | Sse | Sse2 },
        new() { Function = 0x80000000, Eax = 0x80000008 },
        new() { Function = 0x80000001, Ecx = LahfLm | Abm, Edx = Syscall | Nx | Page1G | Rdtscp | LongMode },
        // Physical and linear address widths: 40 and 48 bits.
        new() { Function = 0x80000008, Eax = 0x3028 },
        // KVM's paravirtual leaves: the "KVMKVMKVM" signature, then only the features Soft implements.
        new() { Function = 0x40000000, Eax = 0x40000001, Ebx = 0x4b4d564b, Ecx = 0x564b4d56, Edx = 0x4d },
        new() { Function = 0x40000001, Eax = KvmFeatureClocksource | KvmFeatureClocksource2 | KvmFeatureClocksourceStableBit },
    ];

    // CPUID 0x40000001 EAX bits.
    private const uint KvmFeatureClocksource = 1u << 0, KvmFeatureClocksource2 = 1u << 3, KvmFeatureClocksourceStableBit = 1u << 24;

    public const uint MsrTsc = 0x10, MsrApicBase = 0x1b, MsrSysenterCs = 0x174, MsrSysenterEsp = 0x175, MsrSysenterEip = 0x176,
        MsrMiscEnable = 0x1a0, MsrPat = 0x277, MsrEfer = 0xc0000080, MsrStar = 0xc0000081, MsrLstar = 0xc0000082,
        MsrCstar = 0xc0000083, MsrSfmask = 0xc0000084, MsrFsBase = 0xc0000100, MsrGsBase = 0xc0000101,
        MsrKernelGsBase = 0xc0000102, MsrTscAux = 0xc0000103;

    /// <summary>The MSRs KVM_GET/SET_MSRS handle on a Soft vCPU, in the order KVM_GET_MSR_INDEX_LIST gives them.</summary>
    public static readonly uint[] SavedMsrs =
    [
        MsrSysenterCs, MsrSysenterEsp, MsrSysenterEip, MsrStar, MsrCstar, MsrKernelGsBase, MsrSfmask, MsrLstar,
        MsrPat, MsrTsc, MsrTscAux, MsrEfer, MsrFsBase, MsrGsBase, MsrApicBase, MsrMiscEnable,
        MsrKvmWallClock, MsrKvmSystemTime, MsrKvmWallClockNew, MsrKvmSystemTimeNew,
    ];

    /// <summary>kvmclock's MSRs: the legacy pair (KVM_FEATURE_CLOCKSOURCE) and the current one (KVM_FEATURE_CLOCKSOURCE2).</summary>
    public const uint MsrKvmWallClock = 0x11, MsrKvmSystemTime = 0x12, MsrKvmWallClockNew = 0x4b564d00, MsrKvmSystemTimeNew = 0x4b564d01;

    public const int MaxPhysicalAddressBits = 40;
}
