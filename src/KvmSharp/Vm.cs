using KvmSharp.Abi;
using static KvmSharp.Abi.KvmIoctls;

namespace KvmSharp;

/// <summary>A virtual machine: memory slots, vCPUs, and VM-wide state.</summary>
public sealed unsafe partial class Vm : IDisposable
{
    // Slot sizes as the kernel accepted them: a dirty bitmap the kernel writes
    // must be at least as long as the slot needs, or it would write past the caller's span.
    private readonly Dictionary<uint, ulong> _slotSizes = new();
    private readonly Lock _slotLock = new();

    internal Vm(Kvm kvm, KvmHandle handle)
    {
        Kvm = kvm;
        Handle = handle;
    }

    public Kvm Kvm { get; }

    public KvmHandle Handle { get; }

    /// <summary>KVM_CHECK_EXTENSION on the VM handle (some capabilities answer per VM).</summary>
    [KvmIoctl("KVM_CHECK_EXTENSION")]
    public int CheckExtension(KvmCap capability) =>
        Handle.Call(KVM_CHECK_EXTENSION, (nint)capability, nameof(KVM_CHECK_EXTENSION), () => $"capability {capability}");

    /// <summary>KVM_SET_USER_MEMORY_REGION: creates, moves, changes the flags of, or (size 0) deletes a slot.</summary>
    [KvmIoctl("KVM_SET_USER_MEMORY_REGION")]
    public void SetUserMemoryRegion(in KvmUserspaceMemoryRegion region)
    {
        var copy = region;
        var shown = copy;
        Handle.Call(KVM_SET_USER_MEMORY_REGION, (nint)(&copy), nameof(KVM_SET_USER_MEMORY_REGION), () => Describe(shown));
        lock (_slotLock)
        {
            if (copy.MemorySize == 0)
                _slotSizes.Remove(copy.Slot);
            else
                _slotSizes[copy.Slot] = copy.MemorySize;
        }
    }

    /// <summary>Convenience form of <see cref="SetUserMemoryRegion(in KvmUserspaceMemoryRegion)"/>.</summary>
    public void SetUserMemoryRegion(uint slot, ulong guestPhysAddr, ulong size, nint hostAddress, KvmMemoryFlags flags = KvmMemoryFlags.None) =>
        SetUserMemoryRegion(new KvmUserspaceMemoryRegion
        {
            Slot = slot,
            Flags = flags,
            GuestPhysAddr = guestPhysAddr,
            MemorySize = size,
            UserspaceAddr = (ulong)hostAddress,
        });

    private static string Describe(in KvmUserspaceMemoryRegion r) =>
        $"slot {r.Slot} (guest_phys_addr 0x{r.GuestPhysAddr:x}, memory_size 0x{r.MemorySize:x}, userspace_addr 0x{r.UserspaceAddr:x}, flags {r.Flags})";

    /// <summary>Bytes of dirty bitmap a slot of <paramref name="slotBytes"/> needs: one bit per 4 KiB page, in whole 64-bit words.</summary>
    public static int DirtyBitmapWords(ulong slotBytes) => (int)((slotBytes / 4096 + 63) / 64);

    /// <summary>
    /// KVM_GET_DIRTY_LOG: copies the slot's dirty-page bitmap (bit 0 = first page
    /// of the slot) into <paramref name="bitmap"/> and clears it in the kernel.
    /// </summary>
    [KvmIoctl("KVM_GET_DIRTY_LOG")]
    public void GetDirtyLog(uint slot, Span<ulong> bitmap)
    {
        lock (_slotLock)
        {
            if (_slotSizes.TryGetValue(slot, out ulong size) && bitmap.Length < DirtyBitmapWords(size))
                throw new ArgumentException($"Slot {slot} has {size / 4096} pages and needs a bitmap of {DirtyBitmapWords(size)} 64-bit words; {bitmap.Length} were given.", nameof(bitmap));
        }
        fixed (ulong* p = bitmap)
        {
            var log = new KvmDirtyLog { Slot = slot, DirtyBitmap = (ulong)p };
            Handle.Call(KVM_GET_DIRTY_LOG, (nint)(&log), nameof(KVM_GET_DIRTY_LOG), () => $"slot {slot}");
        }
    }

    /// <summary>KVM_CREATE_VCPU: creates vCPU <paramref name="id"/> and maps its kvm_run block.</summary>
    [KvmIoctl("KVM_CREATE_VCPU")]
    public Vcpu CreateVcpu(uint id)
    {
        int fd = Handle.TryCall(KVM_CREATE_VCPU, (nint)id);
        var handle = KvmHandle.Adopt(Kvm.Kernel, fd, nameof(KVM_CREATE_VCPU), () => $"vCPU id {id}");
        try
        {
            return new Vcpu(this, handle, id, Kvm.GetVcpuMmapSize());
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    /// <summary>KVM_SET_TSS_ADDR: three pages of guest-physical space KVM may use on Intel hosts.</summary>
    [KvmIoctl("KVM_SET_TSS_ADDR")]
    public void SetTssAddr(ulong address) =>
        Handle.Call(KVM_SET_TSS_ADDR, (nint)address, nameof(KVM_SET_TSS_ADDR), () => $"address 0x{address:x}");

    /// <summary>KVM_SET_IDENTITY_MAP_ADDR: one page of guest-physical space for the real-mode identity map on Intel hosts.</summary>
    [KvmIoctl("KVM_SET_IDENTITY_MAP_ADDR")]
    public void SetIdentityMapAddr(ulong address)
    {
        ulong value = address;
        Handle.Call(KVM_SET_IDENTITY_MAP_ADDR, (nint)(&value), nameof(KVM_SET_IDENTITY_MAP_ADDR), () => $"address 0x{address:x}");
    }

    /// <summary>KVM_ENABLE_CAP on the VM.</summary>
    [KvmIoctl("KVM_ENABLE_CAP")]
    public void EnableCap(in KvmEnableCap cap)
    {
        var copy = cap;
        var shown = copy;
        Handle.Call(KVM_ENABLE_CAP, (nint)(&copy), nameof(KVM_ENABLE_CAP), () => $"capability {(KvmCap)shown.Cap}");
    }

    /// <summary>KVM_SET_BOOT_CPU_ID: which vCPU id is the bootstrap processor; only before any vCPU exists.</summary>
    [KvmIoctl("KVM_SET_BOOT_CPU_ID")]
    public void SetBootCpuId(uint id) =>
        Handle.Call(KVM_SET_BOOT_CPU_ID, (nint)id, nameof(KVM_SET_BOOT_CPU_ID), () => $"vCPU id {id}");

    /// <summary>KVM_REGISTER_COALESCED_MMIO.</summary>
    [KvmIoctl("KVM_REGISTER_COALESCED_MMIO")]
    public void RegisterCoalescedMmio(ulong address, uint size)
    {
        var zone = new KvmCoalescedMmioZone { Addr = address, Size = size };
        Handle.Call(KVM_REGISTER_COALESCED_MMIO, (nint)(&zone), nameof(KVM_REGISTER_COALESCED_MMIO), () => $"zone 0x{address:x}+0x{size:x}");
    }

    /// <summary>KVM_UNREGISTER_COALESCED_MMIO.</summary>
    [KvmIoctl("KVM_UNREGISTER_COALESCED_MMIO")]
    public void UnregisterCoalescedMmio(ulong address, uint size)
    {
        var zone = new KvmCoalescedMmioZone { Addr = address, Size = size };
        Handle.Call(KVM_UNREGISTER_COALESCED_MMIO, (nint)(&zone), nameof(KVM_UNREGISTER_COALESCED_MMIO), () => $"zone 0x{address:x}+0x{size:x}");
    }

    /// <summary>KVM_XEN_HVM_CONFIG: the MSR through which the guest asks for the Xen hypercall page.</summary>
    [KvmIoctl("KVM_XEN_HVM_CONFIG")]
    public void XenHvmConfig(in KvmXenHvmConfig config)
    {
        var copy = config;
        var shown = copy;
        Handle.Call(KVM_XEN_HVM_CONFIG, (nint)(&copy), nameof(KVM_XEN_HVM_CONFIG), () => $"msr 0x{shown.Msr:x}");
    }

    /// <summary>KVM_GET_CLOCK: the kvmclock value of this VM.</summary>
    [KvmIoctl("KVM_GET_CLOCK")]
    public KvmClockData GetClock()
    {
        KvmClockData data = default;
        Handle.Call(KVM_GET_CLOCK, (nint)(&data), nameof(KVM_GET_CLOCK));
        return data;
    }

    /// <summary>KVM_SET_CLOCK.</summary>
    [KvmIoctl("KVM_SET_CLOCK")]
    public void SetClock(in KvmClockData data)
    {
        var copy = data;
        var shown = copy;
        Handle.Call(KVM_SET_CLOCK, (nint)(&copy), nameof(KVM_SET_CLOCK), () => $"clock {shown.Clock}, flags 0x{shown.Flags:x}");
    }

    public void Dispose() => Handle.Dispose();
}
