namespace KvmSharp.Kernel;

/// <summary>
/// The seam between the typed API and a KVM implementation. It is the KVM ABI
/// itself: file-descriptor-like handles, request numbers from linux/kvm.h and
/// pointers to the header's structs. Results follow the kernel convention: a
/// non-negative value on success, a negated errno on failure. Nothing above
/// this interface knows which kernel is behind it.
/// </summary>
public interface IKvmKernel
{
    /// <summary>Short name shown to users: "host" or "soft".</summary>
    string Name { get; }

    /// <summary>Opens the system handle (the equivalent of open("/dev/kvm", O_RDWR | O_CLOEXEC)).</summary>
    int OpenSystem();

    /// <summary>ioctl(fd, request, arg). <paramref name="arg"/> is a pointer or an integer, as the request defines.</summary>
    int Ioctl(int fd, ulong request, nint arg);

    /// <summary>Maps <paramref name="length"/> bytes of a vCPU handle at offset 0 (the kvm_run block), shared and read-write.</summary>
    /// <returns>The address, or 0 with <paramref name="errno"/> set.</returns>
    nint MapShared(int fd, nuint length, out int errno);

    /// <summary>Releases a mapping made by <see cref="MapShared"/>.</summary>
    void Unmap(nint address, nuint length);

    /// <summary>Closes a handle; returns 0 or a negated errno.</summary>
    int Close(int fd);
}
