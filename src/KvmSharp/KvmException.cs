using KvmSharp.Abi;

namespace KvmSharp;

/// <summary>
/// A KVM call that the kernel refused. Carries the errno, the ioctl's name and
/// the argument at fault, so the message reads as a sentence a user can act on.
/// </summary>
public sealed class KvmException : Exception
{
    public KvmException(Errno errno, string operation, string? argument = null)
        : base(Describe(errno, operation, argument))
    {
        Errno = errno;
        Operation = operation;
        Argument = argument;
    }

    public Errno Errno { get; }

    /// <summary>The ioctl (or system call) that failed, e.g. "KVM_SET_USER_MEMORY_REGION".</summary>
    public string Operation { get; }

    /// <summary>The argument the kernel refused, as text; null when the call has none.</summary>
    public string? Argument { get; }

    private static string Describe(Errno errno, string operation, string? argument) =>
        argument is null
            ? $"{operation} failed with {errno} ({ErrnoText.Describe(errno)})."
            : $"{operation} failed with {errno} ({ErrnoText.Describe(errno)}) for {argument}.";
}

internal static class ErrnoText
{
    public static string Describe(Errno errno) => errno switch
    {
        Errno.EPERM => "operation not permitted",
        Errno.ENOENT => "no such entry",
        Errno.EINTR => "interrupted",
        Errno.EIO => "input/output error",
        Errno.ENXIO => "no such device or address",
        Errno.E2BIG => "argument list too long",
        Errno.EBADF => "bad file descriptor: the handle is closed or not a KVM handle",
        Errno.EAGAIN => "try again",
        Errno.ENOMEM => "out of memory",
        Errno.EACCES => "permission denied",
        Errno.EFAULT => "bad address",
        Errno.EBUSY => "busy",
        Errno.EEXIST => "already exists",
        Errno.ENODEV => "no such device",
        Errno.EINVAL => "invalid argument",
        Errno.ENOTTY => "not supported by this handle",
        Errno.ENOSPC => "no space left",
        Errno.ERANGE => "out of range",
        Errno.ENOSYS => "not implemented",
        Errno.EOPNOTSUPP => "operation not supported",
        _ => "error " + (int)errno,
    };
}
