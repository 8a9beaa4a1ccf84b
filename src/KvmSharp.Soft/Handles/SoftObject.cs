namespace KvmSharp.Soft.Handles;

/// <summary>
/// What a Soft descriptor refers to: the system, a VM or a vCPU. Each answers
/// ioctls the way the matching Linux file does: a non-negative result or a negated errno.
/// </summary>
internal abstract class SoftObject
{
    public abstract int Ioctl(ulong request, nint arg);

    /// <summary>The fd can be mapped (only vCPUs: their kvm_run block).</summary>
    public virtual nint Map(nuint length, out int errno)
    {
        errno = (int)Abi.Errno.ENODEV;
        return 0;
    }

    /// <summary>Called once, when the last descriptor of the object is closed.</summary>
    public virtual void Release()
    {
    }
}
