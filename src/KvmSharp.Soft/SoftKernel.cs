using KvmSharp.Abi;
using KvmSharp.Kernel;
using KvmSharp.Soft.Handles;
using KvmSharp.Soft.Device;

namespace KvmSharp.Soft;

/// <summary>
/// KvmSharp's software hypervisor behind the same seam as /dev/kvm: the same
/// ioctls, structs and errno values, run in this process on the calling thread.
/// </summary>
public sealed class SoftKernel : IKvmKernel
{
    private readonly SoftFdTable _fds = new();

    public string Name => "soft";

    public int OpenSystem() => _fds.Add(new SoftDevice(_fds), "kvmsharp-soft-system");

    public int Ioctl(int fd, ulong request, nint arg) =>
        _fds.Find(fd) is { } target ? target.Ioctl(request, arg) : -(int)Errno.EBADF;

    public nint MapShared(int fd, nuint length, out int errno)
    {
        if (_fds.Find(fd) is not { } target)
        {
            errno = (int)Errno.EBADF;
            return 0;
        }
        return target.Map(length, out errno);
    }

    public void Unmap(nint address, nuint length) => Native.Munmap(address, length);

    public int Close(int fd) => _fds.Close(fd);
}
