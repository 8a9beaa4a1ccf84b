using System.Reflection;
using KvmSharp.Abi;
using KvmSharp.Soft;

namespace KvmSharp.Tests;

/// <summary>
/// An API caller can pass anything through the raw seam. Soft must answer
/// every request with a result or an errno — never crash, never throw — even
/// with a null or an all-zero argument.
/// </summary>
public class BadArgumentTests
{
    public static TheoryData<string> AllRequests =>
        new(typeof(KvmIoctls).GetFields(BindingFlags.Public | BindingFlags.Static)
            .Where(f => f.FieldType == typeof(ulong)).Select(f => f.Name).Order());

    [Theory]
    [MemberData(nameof(AllRequests))]
    public unsafe void SoftAnswersEveryRequestOnEveryHandleWithNullAndZeroArguments(string ioctl)
    {
        ulong request = (ulong)typeof(KvmIoctls).GetField(ioctl)!.GetValue(null)!;
        // KVM_RUN on a fresh vCPU would run the reset vector; it is covered elsewhere.
        if (ioctl == nameof(KvmIoctls.KVM_RUN))
            return;
        using var kvm = Kvm.Open(new SoftKernel());
        using var vm = kvm.CreateVm();
        using var vcpu = vm.CreateVcpu(0);
        var zeros = new byte[64 * 1024];
        foreach (var handle in new[] { kvm.Handle, vm.Handle, vcpu.Handle })
        {
            int withNull = handle.Ioctl(request, 0);
            Assert.True(withNull <= 0 || IsNewHandle(ioctl), $"{ioctl} with a null argument returned {withNull}");
            fixed (byte* arg = zeros)
            {
                int withZeros = handle.Ioctl(request, (nint)arg);
                Assert.True(withZeros >= -133, $"{ioctl} returned {withZeros}, not an errno");
            }
        }
        // The handles still work (a zero argument may legitimately have changed state, e.g. KVM_SET_REGS).
        Assert.Equal(12, kvm.GetApiVersion());
        _ = vcpu.GetRegs();
    }

    private static bool IsNewHandle(string ioctl) => ioctl is "KVM_CREATE_VM" or "KVM_CREATE_VCPU" or "KVM_GET_API_VERSION"
        or "KVM_CHECK_EXTENSION" or "KVM_GET_VCPU_MMAP_SIZE" or "KVM_GET_TSC_KHZ";
}
