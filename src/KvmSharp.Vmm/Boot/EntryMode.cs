namespace KvmSharp.Vmm.Boot;

/// <summary>The CPU mode a kernel expects at its first instruction.</summary>
public enum EntryMode
{
    /// <summary>Long mode, paging on (identity map), the boot GDT's 64-bit code segment: Linux's 64-bit boot protocol.</summary>
    Long64,

    /// <summary>Flat 32-bit protected mode, paging off: the PVH entry.</summary>
    Protected32,
}
