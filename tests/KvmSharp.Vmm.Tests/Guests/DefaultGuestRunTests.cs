using System.Buffers.Binary;
using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;
using KvmSharp.Abi;
using KvmSharp.Kernel;
using KvmSharp.Vmm.Guests;

namespace KvmSharp.Vmm.Tests.Guests;

public class DefaultGuestRunTests
{
    [Theory]
    [InlineData("host", DefaultGuest.SyscallMsrWriter.Guest)]
    [InlineData("host", DefaultGuest.SyscallMsrWriter.Host)]
    [InlineData("soft", DefaultGuest.SyscallMsrWriter.Guest)]
    [InlineData("soft", DefaultGuest.SyscallMsrWriter.Host)]
    public unsafe void DrawsTheMandelbrotSetOnCom1AndPowersOff(string kernel, DefaultGuest.SyscallMsrWriter syscallMsrWriter)
    {
        var host = TestKernels.Open(kernel);
        string expected = MandelbrotReference.Text();
        var clock = Stopwatch.StartNew();
        var guest = DefaultGuest.Build(syscallMsrWriter);
        var built = clock.Elapsed;

        using var kvm = Kvm.Open(host);
        using var vm = kvm.CreateVm();
        ulong size = guest.Image.MemorySize;
        void* ram = NativeMemory.AlignedAlloc((nuint)size, 4096);
        try
        {
            vm.SetUserMemoryRegion(0, 0, size, (nint)ram);
            using var vcpu = vm.CreateVcpu(0);
            guest.Load(vcpu, new Span<byte>(ram, (int)size));
            var loaded = clock.Elapsed;

            var console = new List<byte>();
            int com1Exits = 0;
            clock.Restart();
            while (true)
            {
                var result = vcpu.Run();
                if (result.Reason != KvmExitReason.Io)
                    Assert.Fail($"Exit {result.Reason} after {com1Exits} COM1 exits, at RIP 0x{vcpu.GetRegs().Rip:x}.");
                var io = vcpu.Io;
                if (io.IsOut && io.Port == DefaultGuest.Com1Port && io.Size == 1)
                {
                    console.AddRange(io.Data);
                    com1Exits++;
                    if (console.Count > expected.Length)
                        Assert.Fail($"The guest wrote more than the {expected.Length} bytes of the picture:\n{Encoding.ASCII.GetString(console.ToArray())}");
                    continue;
                }
                if (io.Port == DefaultGuest.PanicPort)
                    Assert.Fail($"The guest took exception {io.Data[0]} after writing:\n{Encoding.ASCII.GetString(console.ToArray())}");

                Assert.True(io.IsOut);
                Assert.Equal(0x604, io.Port);
                Assert.Equal(2, io.Size);
                Assert.Equal(1u, io.Count);
                Assert.Equal(0x2000, BinaryPrimitives.ReadUInt16LittleEndian(io.Data));
                Assert.True(DefaultGuest.IsPowerOff(io.IsOut, io.Port, io.Size, io.Data));
                break;
            }
            var elapsed = clock.Elapsed;

            Assert.Equal(expected, Encoding.ASCII.GetString(console.ToArray()));
            Assert.Equal(DefaultGuest.ConsoleBytes, expected.Length);
            // The same exit sequence on every kernel: one exit per byte, then the power-off.
            Assert.Equal(expected.Length, com1Exits);
            TestContext.Current.TestOutputHelper?.WriteLine(
                $"{kernel}: SYSCALL MSRs written by the {syscallMsrWriter.ToString().ToLowerInvariant()}: built in {built.TotalMilliseconds:F1} ms, " +
                $"VM created and loaded in {(loaded - built).TotalMilliseconds:F1} ms, {com1Exits} COM1 exits and one power-off exit " +
                $"in {elapsed.TotalMilliseconds:F1} ms of KVM_RUN.\n{expected}");
        }
        finally
        {
            NativeMemory.AlignedFree(ram);
        }
    }
}
