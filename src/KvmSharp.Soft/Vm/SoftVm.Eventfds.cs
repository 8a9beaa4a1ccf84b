using KvmSharp.Abi;
using KvmSharp.Soft.Handles;
using KvmSharp.Soft.Platform;

namespace KvmSharp.Soft.Vm;

// KVM_IRQFD and KVM_IOEVENTFD: eventfds that raise GSIs and that guest writes signal.
internal sealed unsafe partial class SoftVm
{
    private readonly List<Irqfd> _irqfds = new();
    private volatile Ioeventfd[] _ioeventfds = [];

    /// <summary>A registered guest write that signals an eventfd instead of exiting.</summary>
    internal sealed record Ioeventfd(ulong Address, uint Length, bool Pio, bool MatchData, ulong Data, int Fd);

    private int AssignIrqfd(KvmIrqfd* request)
    {
        if (!UserMemory.IsAccessible((nint)request, sizeof(KvmIrqfd)))
            return -(int)Errno.EFAULT;
        if (Irqchip is not { } chips)
            return -(int)Errno.ENXIO;
        const uint validFlags = KvmConstants.KVM_IRQFD_FLAG_DEASSIGN;
        if ((request->Flags & ~validFlags) != 0)
            return -(int)Errno.EINVAL;
        int fd = (int)request->Fd;
        lock (_platformLock)
        {
            int index = _irqfds.FindIndex(b => b.EventFd == fd && b.Gsi == request->Gsi);
            if ((request->Flags & KvmConstants.KVM_IRQFD_FLAG_DEASSIGN) != 0)
            {
                if (index >= 0)
                {
                    _irqfds[index].Dispose();
                    _irqfds.RemoveAt(index);
                }
                return 0;
            }
            if (_irqfds.Any(b => b.EventFd == fd))
                return -(int)Errno.EBUSY;
            if (Native.Fcntl(fd, 1 /* F_GETFD */) < 0)
                return -(int)Errno.EBADF;
            _irqfds.Add(new Irqfd(fd, request->Gsi, gsi => chips.Router.Pulse(GsiRouter.UserspaceSourceId, gsi)));
            return 0;
        }
    }

    private int AssignIoeventfd(KvmIoeventfd* request)
    {
        if (!UserMemory.IsAccessible((nint)request, sizeof(KvmIoeventfd)))
            return -(int)Errno.EFAULT;
        const uint validFlags = KvmConstants.KVM_IOEVENTFD_FLAG_DATAMATCH | KvmConstants.KVM_IOEVENTFD_FLAG_PIO | KvmConstants.KVM_IOEVENTFD_FLAG_DEASSIGN;
        if ((request->Flags & ~validFlags) != 0)
            return -(int)Errno.EINVAL;
        bool pio = (request->Flags & KvmConstants.KVM_IOEVENTFD_FLAG_PIO) != 0;
        bool match = (request->Flags & KvmConstants.KVM_IOEVENTFD_FLAG_DATAMATCH) != 0;
        // Lengths KVM accepts: 1, 2, 4, 8, or 0 ("any length", MMIO only, no data match).
        if (request->Len is not (0 or 1 or 2 or 4 or 8) || (request->Len == 0 && (pio || match)))
            return -(int)Errno.EINVAL;
        if (request->Addr + request->Len < request->Addr)
            return -(int)Errno.EINVAL;
        var entry = new Ioeventfd(request->Addr, request->Len, pio, match, match ? request->Datamatch : 0, request->Fd);
        lock (_platformLock)
        {
            var current = _ioeventfds;
            int index = Array.FindIndex(current, e => e.Address == entry.Address && e.Length == entry.Length && e.Pio == pio
                && e.MatchData == match && (!match || e.Data == entry.Data));
            if ((request->Flags & KvmConstants.KVM_IOEVENTFD_FLAG_DEASSIGN) != 0)
            {
                if (index < 0 || current[index].Fd != entry.Fd)
                    return -(int)Errno.ENOENT;
                _ioeventfds = current.Where((_, i) => i != index).ToArray();
                return 0;
            }
            if (index >= 0)
                return -(int)Errno.EEXIST;
            if (Native.Fcntl(entry.Fd, 1 /* F_GETFD */) < 0)
                return -(int)Errno.EBADF;
            _ioeventfds = [.. current, entry];
            return 0;
        }
    }

    /// <summary>On a vCPU thread: signals the eventfd registered for this guest write, if any.</summary>
    public bool TrySignalIoeventfd(bool pio, ulong address, int length, ulong value)
    {
        foreach (var entry in _ioeventfds)
        {
            if (entry.Pio != pio || entry.Address != address || (entry.Length != 0 && entry.Length != length))
                continue;
            if (entry.MatchData && entry.Data != (length == 8 ? value : value & ((1UL << (8 * length)) - 1)))
                continue;
            ulong one = 1;
            Native.Write(entry.Fd, &one, sizeof(ulong));
            return true;
        }
        return false;
    }
}
