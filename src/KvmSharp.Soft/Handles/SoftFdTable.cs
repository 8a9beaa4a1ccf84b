using System.Runtime.InteropServices;
using KvmSharp.Abi;

namespace KvmSharp.Soft.Handles;

/// <summary>
/// Soft's descriptors are real file descriptors of this process (memfds), so
/// their numbers never collide with other files and a native shim could hand
/// them to C code; this table maps each to the object behind it.
/// </summary>
internal sealed class SoftFdTable
{
    private readonly Dictionary<int, SoftObject> _objects = new();
    private readonly Lock _lock = new();

    /// <summary>Creates a descriptor for <paramref name="target"/>; the memfd has <paramref name="size"/> bytes (a vCPU maps its run block from it).</summary>
    public int Add(SoftObject target, string name, long size = 0)
    {
        int fd = Native.MemfdCreate(name, Native.MFD_CLOEXEC);
        if (fd < 0)
            return -Marshal.GetLastPInvokeError();
        if (size > 0 && Native.Ftruncate(fd, size) != 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            Native.Close(fd);
            return -errno;
        }
        lock (_lock)
            _objects[fd] = target;
        return fd;
    }

    public SoftObject? Find(int fd)
    {
        lock (_lock)
            return _objects.GetValueOrDefault(fd);
    }

    public int Close(int fd)
    {
        SoftObject? target;
        lock (_lock)
        {
            if (!_objects.Remove(fd, out target))
                return -(int)Errno.EBADF;
        }
        Native.Close(fd);
        target.Release();
        return 0;
    }
}
