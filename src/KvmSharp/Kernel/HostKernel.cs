using System.Runtime.InteropServices;

namespace KvmSharp.Kernel;

/// <summary>
/// The real KVM: /dev/kvm through open, ioctl and mmap. The device path can be
/// redirected with the KVMSHARP_DEV_KVM environment variable (used to simulate
/// a machine without KVM).
/// </summary>
public sealed class HostKernel : IKvmKernel
{
    public const string DevicePathVariable = "KVMSHARP_DEV_KVM";
    public const string DefaultDevicePath = "/dev/kvm";

    public HostKernel(string? devicePath = null)
    {
        DevicePath = devicePath ?? Environment.GetEnvironmentVariable(DevicePathVariable) ?? DefaultDevicePath;
    }

    public string Name => "host";

    public string DevicePath { get; }

    /// <summary>True when the device opens; the handle is closed again.</summary>
    public bool IsAvailable()
    {
        int fd = OpenSystem();
        if (fd < 0)
            return false;
        Close(fd);
        return true;
    }

    public int OpenSystem()
    {
        int fd = LibC.Open(DevicePath, LibC.O_RDWR | LibC.O_CLOEXEC);
        return fd >= 0 ? fd : -Marshal.GetLastPInvokeError();
    }

    public int Ioctl(int fd, ulong request, nint arg)
    {
        int result = LibC.Ioctl(fd, (nuint)request, arg);
        return result >= 0 ? result : -Marshal.GetLastPInvokeError();
    }

    public nint MapShared(int fd, nuint length, out int errno)
    {
        nint address = LibC.Mmap(0, length, LibC.PROT_READ | LibC.PROT_WRITE, LibC.MAP_SHARED, fd, 0);
        if (address == LibC.MAP_FAILED)
        {
            errno = Marshal.GetLastPInvokeError();
            return 0;
        }
        errno = 0;
        return address;
    }

    public void Unmap(nint address, nuint length) => LibC.Munmap(address, length);

    public int Close(int fd) => LibC.Close(fd) == 0 ? 0 : -Marshal.GetLastPInvokeError();
}
