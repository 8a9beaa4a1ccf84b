namespace KvmSharp.Abi;

/// <summary>The header's anonymous enum of kvm_ioeventfd flag bit numbers.</summary>
public enum KvmIoeventfdFlagNr
{
    [CName("kvm_ioeventfd_flag_nr_datamatch")] Datamatch = 0,
    [CName("kvm_ioeventfd_flag_nr_pio")] Pio = 1,
    [CName("kvm_ioeventfd_flag_nr_deassign")] Deassign = 2,
    [CName("kvm_ioeventfd_flag_nr_virtio_ccw_notify")] VirtioCcwNotify = 3,
    [CName("kvm_ioeventfd_flag_nr_fast_mmio")] FastMmio = 4,
    [CName("kvm_ioeventfd_flag_nr_max")] Max = 5,
}

/// <summary>enum pv_cmd_id: kvm_pv_cmd.cmd of KVM_S390_PV_COMMAND.</summary>
public enum KvmPvCmdId : uint
{
    [CName("KVM_PV_ENABLE")] Enable = 0,
    [CName("KVM_PV_DISABLE")] Disable,
    [CName("KVM_PV_SET_SEC_PARMS")] SetSecParms,
    [CName("KVM_PV_UNPACK")] Unpack,
    [CName("KVM_PV_VERIFY")] Verify,
    [CName("KVM_PV_PREP_RESET")] PrepReset,
    [CName("KVM_PV_UNSHARE_ALL")] UnshareAll,
    [CName("KVM_PV_INFO")] Info,
    [CName("KVM_PV_DUMP")] Dump,
}

/// <summary>enum pv_cmd_info_id: kvm_s390_pv_info_header.id.</summary>
public enum KvmPvCmdInfoId : uint
{
    [CName("KVM_PV_INFO_VM")] Vm = 0,
    [CName("KVM_PV_INFO_DUMP")] Dump,
}

/// <summary>enum pv_cmd_dmp_id: kvm_s390_pv_dmp.subcmd.</summary>
public enum KvmPvCmdDmpId : ulong
{
    [CName("KVM_PV_DUMP_INIT")] Init = 0,
    [CName("KVM_PV_DUMP_CONFIG_STOR_STATE")] ConfigStorState,
    [CName("KVM_PV_DUMP_COMPLETE")] Complete,
    [CName("KVM_PV_DUMP_CPU")] Cpu,
}
