namespace KvmSharp.Vmm.Boot;

/// <summary>Bytes a boot plan puts at a guest-physical address, with what they are for.</summary>
public sealed record BootWrite(string What, ulong Address, ReadOnlyMemory<byte> Bytes)
{
    public ulong End => Address + (ulong)Bytes.Length;

    public override string ToString() => $"{What}: [0x{Address:x}, 0x{End:x})";
}
