namespace KvmSharp.Abi;

// kvm_stats_desc.flags: type, unit and base of a binary statistic.
public static partial class KvmConstants
{
    public const int KVM_STATS_TYPE_SHIFT = 0;
    public const uint KVM_STATS_TYPE_MASK = 0xF << KVM_STATS_TYPE_SHIFT;
    public const uint KVM_STATS_TYPE_CUMULATIVE = 0x0 << KVM_STATS_TYPE_SHIFT;
    public const uint KVM_STATS_TYPE_INSTANT = 0x1 << KVM_STATS_TYPE_SHIFT;
    public const uint KVM_STATS_TYPE_PEAK = 0x2 << KVM_STATS_TYPE_SHIFT;
    public const uint KVM_STATS_TYPE_LINEAR_HIST = 0x3 << KVM_STATS_TYPE_SHIFT;
    public const uint KVM_STATS_TYPE_LOG_HIST = 0x4 << KVM_STATS_TYPE_SHIFT;
    public const uint KVM_STATS_TYPE_MAX = KVM_STATS_TYPE_LOG_HIST;

    public const int KVM_STATS_UNIT_SHIFT = 4;
    public const uint KVM_STATS_UNIT_MASK = 0xF << KVM_STATS_UNIT_SHIFT;
    public const uint KVM_STATS_UNIT_NONE = 0x0 << KVM_STATS_UNIT_SHIFT;
    public const uint KVM_STATS_UNIT_BYTES = 0x1 << KVM_STATS_UNIT_SHIFT;
    public const uint KVM_STATS_UNIT_SECONDS = 0x2 << KVM_STATS_UNIT_SHIFT;
    public const uint KVM_STATS_UNIT_CYCLES = 0x3 << KVM_STATS_UNIT_SHIFT;
    public const uint KVM_STATS_UNIT_BOOLEAN = 0x4 << KVM_STATS_UNIT_SHIFT;
    public const uint KVM_STATS_UNIT_MAX = KVM_STATS_UNIT_BOOLEAN;

    public const int KVM_STATS_BASE_SHIFT = 8;
    public const uint KVM_STATS_BASE_MASK = 0xF << KVM_STATS_BASE_SHIFT;
    public const uint KVM_STATS_BASE_POW10 = 0x0 << KVM_STATS_BASE_SHIFT;
    public const uint KVM_STATS_BASE_POW2 = 0x1 << KVM_STATS_BASE_SHIFT;
    public const uint KVM_STATS_BASE_MAX = KVM_STATS_BASE_POW2;
}
