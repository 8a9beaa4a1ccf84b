using KvmSharp.Abi;
using KvmSharp.Soft.Handles;

namespace KvmSharp.Soft.Model;

/// <summary>KVM_ENABLE_CAP: Soft has no capability that must be enabled yet, so every one is refused as KVM refuses an unknown one.</summary>
internal static unsafe class EnableCap
{
    public static int Refuse(KvmEnableCap* cap)
    {
        if (!UserMemory.IsAccessible((nint)cap, sizeof(KvmEnableCap)))
            return -(int)Errno.EFAULT;
        return -(int)Errno.EINVAL;
    }
}
