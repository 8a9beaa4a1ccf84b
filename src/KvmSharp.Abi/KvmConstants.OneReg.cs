namespace KvmSharp.Abi;

// The fields of a KVM_GET/SET_ONE_REG register id: architecture and size.
public static partial class KvmConstants
{
    public const ulong KVM_REG_ARCH_MASK = 0xff00000000000000UL;
    public const ulong KVM_REG_GENERIC = 0x0000000000000000UL;
    public const ulong KVM_REG_PPC = 0x1000000000000000UL;
    public const ulong KVM_REG_X86 = 0x2000000000000000UL;
    public const ulong KVM_REG_IA64 = 0x3000000000000000UL;
    public const ulong KVM_REG_ARM = 0x4000000000000000UL;
    public const ulong KVM_REG_S390 = 0x5000000000000000UL;
    public const ulong KVM_REG_ARM64 = 0x6000000000000000UL;
    public const ulong KVM_REG_MIPS = 0x7000000000000000UL;
    public const ulong KVM_REG_RISCV = 0x8000000000000000UL;

    public const int KVM_REG_SIZE_SHIFT = 52;
    public const ulong KVM_REG_SIZE_MASK = 0x00f0000000000000UL;
    public const ulong KVM_REG_SIZE_U8 = 0x0000000000000000UL;
    public const ulong KVM_REG_SIZE_U16 = 0x0010000000000000UL;
    public const ulong KVM_REG_SIZE_U32 = 0x0020000000000000UL;
    public const ulong KVM_REG_SIZE_U64 = 0x0030000000000000UL;
    public const ulong KVM_REG_SIZE_U128 = 0x0040000000000000UL;
    public const ulong KVM_REG_SIZE_U256 = 0x0050000000000000UL;
    public const ulong KVM_REG_SIZE_U512 = 0x0060000000000000UL;
    public const ulong KVM_REG_SIZE_U1024 = 0x0070000000000000UL;
    public const ulong KVM_REG_SIZE_U2048 = 0x0080000000000000UL;
}
