using System.Runtime.InteropServices;
using KvmSharp.Abi;
using KvmSharp.Kernel;

namespace KvmSharp;

/// <summary>One KVM file descriptor (system, VM or vCPU) of one kernel; closed exactly once.</summary>
public sealed class KvmHandle : SafeHandle
{
    internal KvmHandle(IKvmKernel kernel, int fd) : base(-1, ownsHandle: true)
    {
        Kernel = kernel;
        SetHandle(fd);
    }

    public IKvmKernel Kernel { get; }

    /// <summary>The descriptor number as the kernel knows it.</summary>
    public int Fd => (int)handle;

    public override bool IsInvalid => handle < 0;

    protected override bool ReleaseHandle() => Kernel.Close((int)handle) == 0;

    /// <summary>
    /// Issues a request and returns the kernel's non-negative result or throws.
    /// This is the one place where an errno becomes an exception.
    /// </summary>
    internal int Call(ulong request, nint arg, string operation, Func<string>? describeArgument = null) =>
        Check(TryCall(request, arg), operation, describeArgument);

    /// <summary>Returns a non-negative kernel result, or throws for a negated errno.</summary>
    internal static int Check(int result, string operation, Func<string>? describeArgument = null)
    {
        if (result < 0)
            throw new KvmException((Errno)(-result), operation, describeArgument?.Invoke());
        return result;
    }

    /// <summary>
    /// The raw seam: ioctl(fd, request, arg) on this handle's kernel, returning
    /// the kernel's result or a negated errno. A closed handle gives -EBADF, as
    /// the kernel would. For requests the typed API does not wrap.
    /// </summary>
    public int Ioctl(ulong request, nint arg) => TryCall(request, arg);

    /// <summary>Issues a request; returns the kernel's result or a negated errno. A closed handle gives -EBADF, as the kernel would.</summary>
    internal int TryCall(ulong request, nint arg)
    {
        bool added = false;
        try
        {
            DangerousAddRef(ref added);
        }
        catch (ObjectDisposedException)
        {
            return -(int)Errno.EBADF;
        }
        try
        {
            return Kernel.Ioctl((int)handle, request, arg);
        }
        finally
        {
            if (added)
                DangerousRelease();
        }
    }

    internal static KvmHandle Adopt(IKvmKernel kernel, int fd, string operation, Func<string>? describeArgument = null)
    {
        if (fd < 0)
            throw new KvmException((Errno)(-fd), operation, describeArgument?.Invoke());
        return new KvmHandle(kernel, fd);
    }
}
