using KvmSharp.Abi;
using KvmSharp.Tests.Guests;
using KvmSharp.Vmm.Memory;
using static Iced.Intel.AssemblerRegisters;
using static KvmSharp.Tests.Guests.ApicGuest;

namespace KvmSharp.Tests.Platform;

/// <summary>KVM_XEN_HVM_CONFIG's hypercall-page MSR: a guest write copies a page of the VMM's blob into guest memory.</summary>
public class XenHvmConfigTests
{
    private const uint HypercallMsr = 0x40000200;
    private const ulong TargetPage = 0x50000;

    [Theory]
    [MemberData(nameof(Kernels.All), MemberType = typeof(Kernels))]
    public unsafe void TheHypercallMsrCopiesTheNamedBlobPage(string kernel)
    {
        using var kvm = Kernels.Open(kernel);
        using var guest = new ApicGuest(kvm, 1, g =>
        {
            var a = g.Asm;
            a.xor(edx, edx);
            a.mov(ecx, HypercallMsr);
            a.mov(eax, (uint)TargetPage | 1);                       // Page 1 of the 64-bit blob.
            a.wrmsr();
            a.@out(0x10, al);
            a.hlt();
        });
        using var blobs = new GuestRam(4 * 4096);                  // Two 64-bit pages, then one 32-bit page.
        for (int page = 0; page < 3; page++)
            blobs.Span.Slice(page * 4096, 4096).Fill((byte)(0xa0 + page));
        var config = new KvmXenHvmConfig
        {
            Msr = HypercallMsr,
            BlobAddr64 = (ulong)blobs.Address, BlobSize64 = 2,
            BlobAddr32 = (ulong)blobs.Address + 2 * 4096, BlobSize32 = 1,
        };
        if (kvm.CheckExtension(KvmCap.XenHvm) == 0)
        {
            // Host gap: this machine's kvm_pvm kernel is built without CONFIG_KVM_XEN (KVM_CAP_XEN_HVM is 0), so
            // the ioctl is unknown to it: ENOTTY, as for any VM ioctl KVM does not implement.
            Assert.Equal(Errno.ENOTTY, Assert.Throws<KvmException>(() => guest.Vm.XenHvmConfig(config)).Errno);
            return;
        }
        Assert.Equal(Errno.EINVAL, Assert.Throws<KvmException>(() => guest.Vm.XenHvmConfig(config with { Msr = 0x10 })).Errno);
        guest.Vm.XenHvmConfig(config);

        Assert.Equal(0x10, guest.RunToOut(0).Port);
        Assert.True(guest.Ram.Span.Slice((int)TargetPage, 4096).IndexOfAnyExcept((byte)0xa1) < 0, "the guest page is not blob page 1.");
        // Past the blob's end the write is refused and nothing is copied.
        Assert.Equal(0, guest.Vcpus[0].SetMsrs([new KvmMsrEntry { Index = HypercallMsr, Data = TargetPage + 0x1000 + 2 }]));
        Assert.True(guest.Ram.Span.Slice((int)TargetPage + 0x1000, 4096).IndexOfAnyExcept((byte)0) < 0, "a refused write copied something.");
    }
}
