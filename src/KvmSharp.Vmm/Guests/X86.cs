namespace KvmSharp.Vmm.Guests;

/// <summary>Architectural numbers of x86-64 that guest builders need (Intel SDM vol. 3).</summary>
public static class X86
{
    public const uint MsrEfer = 0xC000_0080;
    public const uint MsrStar = 0xC000_0081;
    public const uint MsrLstar = 0xC000_0082;
    public const uint MsrCstar = 0xC000_0083;
    public const uint MsrSfmask = 0xC000_0084;

    public const ulong EferSce = 1UL << 0;
    public const ulong EferLme = 1UL << 8;
    public const ulong EferLma = 1UL << 10;
    public const ulong EferNxe = 1UL << 11;

    public const ulong Cr0Pe = 1UL << 0;
    public const ulong Cr0Mp = 1UL << 1;
    public const ulong Cr0Et = 1UL << 4;
    public const ulong Cr0Ne = 1UL << 5;
    public const ulong Cr0Wp = 1UL << 16;
    public const ulong Cr0Pg = 1UL << 31;

    public const ulong Cr4Pae = 1UL << 5;
    public const ulong Cr4Osfxsr = 1UL << 9;
    public const ulong Cr4Osxmmexcpt = 1UL << 10;

    public const ulong RflagsFixed = 1UL << 1;
    public const ulong RflagsTf = 1UL << 8;
    public const ulong RflagsIf = 1UL << 9;
    public const ulong RflagsDf = 1UL << 10;
    public const ulong RflagsNt = 1UL << 14;
    public const ulong RflagsAc = 1UL << 18;

    public const ulong PtePresent = 1UL << 0;
    public const ulong PteWritable = 1UL << 1;
    public const ulong PteUser = 1UL << 2;
    public const ulong PteAccessed = 1UL << 5;
    public const ulong PteDirty = 1UL << 6;
    public const ulong PteNoExecute = 1UL << 63;

    /// <summary>Exceptions that push an error code (#DF, #TS, #NP, #SS, #GP, #PF, #AC, #CP).</summary>
    public static bool PushesErrorCode(int vector) => vector is 8 or 10 or 11 or 12 or 13 or 14 or 17 or 21;
}
