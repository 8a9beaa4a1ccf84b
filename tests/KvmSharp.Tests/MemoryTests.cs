using KvmSharp.Abi;
using static Iced.Intel.AssemblerRegisters;

namespace KvmSharp.Tests;

public class MemoryTests
{
    private const ulong Page = 4096;

    [Theory]
    [MemberData(nameof(Kernels.All), MemberType = typeof(Kernels))]
    public void OverlappingSlotIsRefusedWithEexistAndTheFirstSlotStillWorks(string kernel)
    {
        using var kvm = Kernels.Open(kernel);
        using var guest = new RealModeGuest(kvm, a => { a.mov(al, __byte_ptr[0x2000]); a.@out(0x10, al); a.hlt(); });
        guest.Memory.Span[0x2000] = 0x5a;
        using var other = new GuestMemory(0x4000);

        var error = Assert.Throws<KvmException>(() => guest.Vm.SetUserMemoryRegion(1, 0x2000, 0x4000, other.Pointer));
        Assert.Equal(Errno.EEXIST, error.Errno);
        Assert.Equal("KVM_SET_USER_MEMORY_REGION", error.Operation);
        Assert.Contains("slot 1", error.Message);

        Assert.Equal(KvmExitReason.Io, guest.Vcpu.Run().Reason);
        Assert.Equal(0x5a, guest.Vcpu.Io.Data[0]); // Still slot 0's byte at 0x2000.
    }

    [Theory]
    [MemberData(nameof(Kernels.All), MemberType = typeof(Kernels))]
    public void MisalignedRegionsAreRefusedWithEinval(string kernel)
    {
        using var kvm = Kernels.Open(kernel);
        using var vm = kvm.CreateVm();
        using var memory = new GuestMemory(0x10000);
        Assert.Equal(Errno.EINVAL, Assert.Throws<KvmException>(() => vm.SetUserMemoryRegion(0, 0x1001, Page, memory.Pointer)).Errno);
        Assert.Equal(Errno.EINVAL, Assert.Throws<KvmException>(() => vm.SetUserMemoryRegion(0, 0, Page + 1, memory.Pointer)).Errno);
        Assert.Equal(Errno.EINVAL, Assert.Throws<KvmException>(() => vm.SetUserMemoryRegion(0, 0, Page, memory.Pointer + 8)).Errno);
        // None of the refusals created the slot: the same slot can now be made properly.
        vm.SetUserMemoryRegion(0, 0, Page, memory.Pointer);
    }

    [Theory]
    [MemberData(nameof(Kernels.All), MemberType = typeof(Kernels))]
    public void UnknownFlagsAndSlotsBeyondTheLimitAreRefused(string kernel)
    {
        using var kvm = Kernels.Open(kernel);
        using var vm = kvm.CreateVm();
        using var memory = new GuestMemory(Page);
        Assert.Equal(Errno.EINVAL, Assert.Throws<KvmException>(() => vm.SetUserMemoryRegion(0, 0, Page, memory.Pointer, (KvmMemoryFlags)0x80)).Errno);
        uint slots = (uint)vm.CheckExtension(KvmCap.NrMemslots);
        Assert.Equal(Errno.EINVAL, Assert.Throws<KvmException>(() => vm.SetUserMemoryRegion(slots, 0, Page, memory.Pointer)).Errno);
        vm.SetUserMemoryRegion(slots - 1, 0, Page, memory.Pointer);
    }

    [Theory]
    [MemberData(nameof(Kernels.All), MemberType = typeof(Kernels))]
    public void ASlotCanBeDeletedMovedButNotResized(string kernel)
    {
        using var kvm = Kernels.Open(kernel);
        using var vm = kvm.CreateVm();
        using var memory = new GuestMemory(4 * Page);
        vm.SetUserMemoryRegion(1, 0x10000, 2 * Page, memory.Pointer);
        // A different size for an existing slot is refused and the slot is kept.
        Assert.Equal(Errno.EINVAL, Assert.Throws<KvmException>(() => vm.SetUserMemoryRegion(1, 0x10000, 4 * Page, memory.Pointer)).Errno);
        Assert.Equal(Errno.EEXIST, Assert.Throws<KvmException>(() => vm.SetUserMemoryRegion(2, 0x10000, Page, memory.Pointer)).Errno);
        // Moving keeps size and host memory.
        vm.SetUserMemoryRegion(1, 0x20000, 2 * Page, memory.Pointer);
        vm.SetUserMemoryRegion(2, 0x10000, Page, memory.Pointer);
        // Size 0 deletes; the range is free again.
        vm.SetUserMemoryRegion(1, 0x20000, 0, memory.Pointer);
        vm.SetUserMemoryRegion(3, 0x20000, 2 * Page, memory.Pointer);
    }

    [Theory]
    [MemberData(nameof(Kernels.All), MemberType = typeof(Kernels))]
    public void DirtyLogNeedsLoggingOnTheSlot(string kernel)
    {
        using var kvm = Kernels.Open(kernel);
        using var vm = kvm.CreateVm();
        using var memory = new GuestMemory(16 * Page);
        vm.SetUserMemoryRegion(0, 0, 16 * Page, memory.Pointer);
        var bitmap = new ulong[1];
        Assert.Equal(Errno.ENOENT, Assert.Throws<KvmException>(() => vm.GetDirtyLog(0, bitmap)).Errno);
        Assert.Equal(Errno.ENOENT, Assert.Throws<KvmException>(() => vm.GetDirtyLog(5, bitmap)).Errno);
    }

    [Theory]
    [MemberData(nameof(Kernels.All), MemberType = typeof(Kernels))]
    public void DirtyLogShowsTheWrittenPagesAndIsClearedByReading(string kernel)
    {
        using var kvm = Kernels.Open(kernel);
        using var guest = new RealModeGuest(kvm, a =>
        {
            a.mov(__byte_ptr[0x3000], 1);
            a.mov(__byte_ptr[0x5004], 1);
            a.hlt();
            a.mov(__byte_ptr[0x6000], 1);
            a.hlt();
        });
        using var logged = new GuestMemory(16 * Page);
        // Log a second slot: the code page lives in slot 0, the data pages move to slot 1.
        guest.Vm.SetUserMemoryRegion(0, 0, 0, guest.Memory.Pointer);
        guest.Vm.SetUserMemoryRegion(0, 0, 0x3000, guest.Memory.Pointer);
        guest.Vm.SetUserMemoryRegion(1, 0x3000, 8 * Page, logged.Pointer, KvmMemoryFlags.LogDirtyPages);

        Assert.Equal(KvmExitReason.Hlt, guest.Vcpu.Run().Reason);
        var bitmap = new ulong[Vm.DirtyBitmapWords(8 * Page)];
        guest.Vm.GetDirtyLog(1, bitmap);
        Assert.Equal(0b101UL, bitmap[0]); // Pages 0x3000 and 0x5000 of the slot.
        Assert.Equal(1, logged.Span[0]);
        Assert.Equal(1, logged.Span[0x2004]);

        guest.Vm.GetDirtyLog(1, bitmap);
        Assert.Equal(0UL, bitmap[0]);

        Assert.Equal(KvmExitReason.Hlt, guest.Vcpu.Run().Reason);
        guest.Vm.GetDirtyLog(1, bitmap);
        Assert.Equal(0b1000UL, bitmap[0]);
    }

    [Theory]
    [MemberData(nameof(Kernels.All), MemberType = typeof(Kernels))]
    public void ATooShortDirtyBitmapIsRefusedBeforeTheKernelCanWritePastIt(string kernel)
    {
        using var kvm = Kernels.Open(kernel);
        using var vm = kvm.CreateVm();
        using var memory = new GuestMemory(128 * Page);
        vm.SetUserMemoryRegion(0, 0, 128 * Page, memory.Pointer, KvmMemoryFlags.LogDirtyPages);
        var error = Assert.Throws<ArgumentException>(() => vm.GetDirtyLog(0, new ulong[1]));
        Assert.Contains("needs a bitmap of 2", error.Message);
    }

    [Theory]
    [MemberData(nameof(Kernels.All), MemberType = typeof(Kernels))]
    public void WritesToAReadOnlySlotBecomeMmioExits(string kernel)
    {
        using var kvm = Kernels.Open(kernel);
        Assert.Equal(1, kvm.CheckExtension(KvmCap.ReadonlyMem));
        using var guest = new RealModeGuest(kvm, a =>
        {
            a.mov(al, __byte_ptr[0x8000]);
            a.mov(__byte_ptr[0x8001], 0x77);
            a.hlt();
        });
        using var rom = new GuestMemory(Page);
        rom.Span[0] = 0x42;
        guest.Vm.SetUserMemoryRegion(0, 0, 0, guest.Memory.Pointer);
        guest.Vm.SetUserMemoryRegion(0, 0, 0x8000, guest.Memory.Pointer);
        guest.Vm.SetUserMemoryRegion(1, 0x8000, Page, rom.Pointer, KvmMemoryFlags.ReadOnly);

        var result = guest.Vcpu.Run();
        Assert.Equal(KvmExitReason.Mmio, result.Reason);
        var mmio = guest.Vcpu.Mmio;
        Assert.True(mmio.IsWrite);
        Assert.Equal(0x8001UL, mmio.PhysicalAddress);
        Assert.Equal(new byte[] { 0x77 }, mmio.Data.ToArray());
        Assert.Equal(0, rom.Span[1]); // The read-only memory is untouched.
        Assert.Equal(KvmExitReason.Hlt, guest.Vcpu.Run().Reason);
        Assert.Equal(0x42UL, guest.Vcpu.GetRegs().Rax & 0xff);
    }
}

public partial class UnbackedMemoryTests
{
    [Theory]
    [MemberData(nameof(Kernels.All), MemberType = typeof(Kernels))]
    public void GuestAccessToInaccessibleHostMemoryBecomesAnMmioExit(string kernel)
    {
        using var kvm = Kernels.Open(kernel);
        using var guest = new RealModeGuest(kvm, a => { a.mov(Iced.Intel.AssemblerRegisters.al, Iced.Intel.AssemblerRegisters.__byte_ptr[0x8000]); a.hlt(); });
        // Address space reserved with no access (PROT_NONE): a slot over it is
        // legal, but the memory cannot be read. KVM's instruction emulator (which
        // runs this guest's real-mode code on this Host) then handles the access
        // as MMIO; Soft, an emulator too, does the same and never touches the page.
        nint reserved = Mmap(0, 0x1000, 0, 0x22 /* MAP_PRIVATE | MAP_ANONYMOUS */, -1, 0);
        Assert.NotEqual(-1, reserved);
        try
        {
            guest.Vm.SetUserMemoryRegion(0, 0, 0, guest.Memory.Pointer);
            guest.Vm.SetUserMemoryRegion(0, 0, 0x8000, guest.Memory.Pointer);
            guest.Vm.SetUserMemoryRegion(1, 0x8000, 0x1000, reserved);
            Assert.Equal(KvmExitReason.Mmio, guest.Vcpu.Run().Reason);
            Assert.Equal(0x8000UL, guest.Vcpu.Mmio.PhysicalAddress);
            Assert.False(guest.Vcpu.Mmio.IsWrite);
        }
        finally
        {
            Munmap(reserved, 0x1000);
        }
    }

    [System.Runtime.InteropServices.LibraryImport("libc", EntryPoint = "mmap")]
    private static partial nint Mmap(nint address, nuint length, int protection, int flags, int fd, nint offset);

    [System.Runtime.InteropServices.LibraryImport("libc", EntryPoint = "munmap")]
    private static partial int Munmap(nint address, nuint length);
}
