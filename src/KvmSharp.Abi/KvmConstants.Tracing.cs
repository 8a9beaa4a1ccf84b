namespace KvmSharp.Abi;

// Event codes of the removed in-kernel tracing interface (KVM_TRACE_ENABLE);
// the header still lists them under "Deprecated interfaces".
public static partial class KvmConstants
{
    public const int KVM_TRC_SHIFT = 16;
    public const uint KVM_TRC_ENTRYEXIT = 1 << KVM_TRC_SHIFT;
    public const uint KVM_TRC_HANDLER = 1 << (KVM_TRC_SHIFT + 1);

    public const uint KVM_TRC_VMENTRY = KVM_TRC_ENTRYEXIT + 0x01;
    public const uint KVM_TRC_VMEXIT = KVM_TRC_ENTRYEXIT + 0x02;
    public const uint KVM_TRC_PAGE_FAULT = KVM_TRC_HANDLER + 0x01;

    public const int KVM_TRC_HEAD_SIZE = 12;
    public const int KVM_TRC_CYCLE_SIZE = 8;
    public const int KVM_TRC_EXTRA_MAX = 7;

    public const uint KVM_TRC_INJ_VIRQ = KVM_TRC_HANDLER + 0x02;
    public const uint KVM_TRC_REDELIVER_EVT = KVM_TRC_HANDLER + 0x03;
    public const uint KVM_TRC_PEND_INTR = KVM_TRC_HANDLER + 0x04;
    public const uint KVM_TRC_IO_READ = KVM_TRC_HANDLER + 0x05;
    public const uint KVM_TRC_IO_WRITE = KVM_TRC_HANDLER + 0x06;
    public const uint KVM_TRC_CR_READ = KVM_TRC_HANDLER + 0x07;
    public const uint KVM_TRC_CR_WRITE = KVM_TRC_HANDLER + 0x08;
    public const uint KVM_TRC_DR_READ = KVM_TRC_HANDLER + 0x09;
    public const uint KVM_TRC_DR_WRITE = KVM_TRC_HANDLER + 0x0A;
    public const uint KVM_TRC_MSR_READ = KVM_TRC_HANDLER + 0x0B;
    public const uint KVM_TRC_MSR_WRITE = KVM_TRC_HANDLER + 0x0C;
    public const uint KVM_TRC_CPUID = KVM_TRC_HANDLER + 0x0D;
    public const uint KVM_TRC_INTR = KVM_TRC_HANDLER + 0x0E;
    public const uint KVM_TRC_NMI = KVM_TRC_HANDLER + 0x0F;
    public const uint KVM_TRC_VMMCALL = KVM_TRC_HANDLER + 0x10;
    public const uint KVM_TRC_HLT = KVM_TRC_HANDLER + 0x11;
    public const uint KVM_TRC_CLTS = KVM_TRC_HANDLER + 0x12;
    public const uint KVM_TRC_LMSW = KVM_TRC_HANDLER + 0x13;
    public const uint KVM_TRC_APIC_ACCESS = KVM_TRC_HANDLER + 0x14;
    public const uint KVM_TRC_TDP_FAULT = KVM_TRC_HANDLER + 0x15;
    public const uint KVM_TRC_GTLB_WRITE = KVM_TRC_HANDLER + 0x16;
    public const uint KVM_TRC_STLB_WRITE = KVM_TRC_HANDLER + 0x17;
    public const uint KVM_TRC_STLB_INVAL = KVM_TRC_HANDLER + 0x18;
    public const uint KVM_TRC_PPC_INSTR = KVM_TRC_HANDLER + 0x19;
}
