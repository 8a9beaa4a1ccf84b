namespace KvmSharp.Abi;

/// <summary>x86 exception vectors, as asm/kvm.h names them for kvm_vcpu_events.exception.nr.</summary>
public enum X86ExceptionVector : byte
{
    [CName("DE_VECTOR")] DivideError = 0,
    [CName("DB_VECTOR")] Debug = 1,
    [CName("BP_VECTOR")] Breakpoint = 3,
    [CName("OF_VECTOR")] Overflow = 4,
    [CName("BR_VECTOR")] BoundRange = 5,
    [CName("UD_VECTOR")] InvalidOpcode = 6,
    [CName("NM_VECTOR")] DeviceNotAvailable = 7,
    [CName("DF_VECTOR")] DoubleFault = 8,
    [CName("TS_VECTOR")] InvalidTss = 10,
    [CName("NP_VECTOR")] SegmentNotPresent = 11,
    [CName("SS_VECTOR")] StackFault = 12,
    [CName("GP_VECTOR")] GeneralProtection = 13,
    [CName("PF_VECTOR")] PageFault = 14,
    [CName("MF_VECTOR")] X87FloatingPoint = 16,
    [CName("AC_VECTOR")] AlignmentCheck = 17,
    [CName("MC_VECTOR")] MachineCheck = 18,
    [CName("XM_VECTOR")] SimdFloatingPoint = 19,
    [CName("VE_VECTOR")] VirtualizationException = 20,
}
