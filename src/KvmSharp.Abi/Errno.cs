namespace KvmSharp.Abi;

/// <summary>The errno values the KVM ioctls return (asm-generic/errno-base.h, errno.h).</summary>
public enum Errno
{
    EPERM = 1,
    ENOENT = 2,
    ESRCH = 3,
    EINTR = 4,
    EIO = 5,
    ENXIO = 6,
    E2BIG = 7,
    ENOEXEC = 8,
    EBADF = 9,
    ECHILD = 10,
    EAGAIN = 11,
    ENOMEM = 12,
    EACCES = 13,
    EFAULT = 14,
    EBUSY = 16,
    EEXIST = 17,
    ENODEV = 19,
    EINVAL = 22,
    ENFILE = 23,
    EMFILE = 24,
    ENOTTY = 25,
    ENOSPC = 28,
    ESPIPE = 29,
    ERANGE = 34,
    ENOSYS = 38,
    ENODATA = 61,
    EOPNOTSUPP = 95,
    EHWPOISON = 133,
}
