using System.Runtime.InteropServices;
using KvmSharp.Abi;
using KvmSharp.Kernel;

namespace KvmSharp.Bench;

/// <summary>
/// KvmSharp's own cost per exit, without the kernel's: the same Run() + Io/Mmio
/// loop as (b) and (c), on a kernel whose KVM_RUN returns at once with a
/// ready-made exit, and the cost of the P/Invoke transition into ioctl. The C
/// peer has no counterpart (its overhead is the libc call alone); these rows
/// explain the ratios of (b), (c) and (d).
/// </summary>
internal sealed unsafe partial class OverheadWorkload : Workload
{
    private const int BadFd = -1;

    public override string Name => "overhead";

    public override bool HasCPeer => false;

    public override IReadOnlyList<Figure> Figures { get; } =
    [
        new("overhead_run_io", "ns", "KvmSharp only: Run() + Io checks, stub kernel (no syscall)", PerRepetition: true),
        new("overhead_run_mmio", "ns", "KvmSharp only: Run() + Mmio checks, stub kernel (no syscall)", PerRepetition: true),
        new("ioctl_ebadf_pinvoke", "ns", "KvmSharp only: ioctl(-1) as HostKernel calls it (P/Invoke, SetLastError)", PerRepetition: true),
        new("ioctl_ebadf_no_transition", "ns", "KvmSharp only: ioctl(-1) without the GC transition (a C-like call)", PerRepetition: true),
    ];

    public override int DefaultRepetitions => 3;

    public override int RepetitionsPerRound => 1;

    public override IReadOnlyList<string> CPeerArguments(BenchSettings settings, int repetitions) => throw new NotSupportedException();

    // These loops take nanoseconds per call, so the default warm-up ends before the
    // JIT's tiering does (call counting waits for 100 ms without new methods); the
    // pauses let the background compiler install the optimized code.
    public override void WarmUpKvmSharp(Kvm kvm, BenchSettings settings)
    {
        for (int i = 0; i < 3; i++)
        {
            RunKvmSharp(kvm, settings with { Exits = 300_000 }, 1, new Samples());
            Thread.Sleep(150);
        }
    }

    public override void RunKvmSharp(Kvm kvm, BenchSettings settings, int repetitions, Samples samples)
    {
        long calls = settings.Exits;
        using var ioKernel = new StubKernel(PresetPioExit);
        using var mmioKernel = new StubKernel(PresetMmioExit);
        using var ioKvm = Kvm.Open(ioKernel);
        using var ioVm = ioKvm.CreateVm();
        using var ioVcpu = ioVm.CreateVcpu(0);
        using var mmioKvm = Kvm.Open(mmioKernel);
        using var mmioVm = mmioKvm.CreateVm();
        using var mmioVcpu = mmioVm.CreateVcpu(0);
        delegate* unmanaged[SuppressGCTransition]<int, nuint, nint, int> ioctlWithoutTransition =
            (delegate* unmanaged[SuppressGCTransition]<int, nuint, nint, int>)NativeLibrary.GetExport(NativeLibrary.Load("libc.so.6"), "ioctl");
        nuint run = (nuint)KvmIoctls.KVM_RUN;

        for (int i = -1; i < repetitions; i++)
        {
            long warm = i < 0 ? WarmUpExits(calls) : calls;
            Measure(i, "overhead_run_io", () => RunIo(ioVcpu, warm));
            Measure(i, "overhead_run_mmio", () => RunMmio(mmioVcpu, warm));
            Measure(i, "ioctl_ebadf_pinvoke", () =>
            {
                for (long k = 0; k < warm; k++)
                    if (Ioctl(BadFd, run, 0) != -1 || Marshal.GetLastPInvokeError() != (int)Errno.EBADF)
                        throw new BenchException("ioctl(-1, KVM_RUN) did not fail with EBADF");
            });
            Measure(i, "ioctl_ebadf_no_transition", () =>
            {
                for (long k = 0; k < warm; k++)
                    if (ioctlWithoutTransition(BadFd, run, 0) != -1)
                        throw new BenchException("ioctl(-1, KVM_RUN) did not fail");
            });

            void Measure(int repetition, string figure, Action loop)
            {
                long start = Clock.Now();
                loop();
                long end = Clock.Now();
                if (repetition >= 0)
                    samples.Add(figure, Clock.Nanoseconds(start, end) / calls);
            }
        }
    }

    private static void RunIo(Vcpu vcpu, long calls)
    {
        for (long k = 0; k < calls; k++)
        {
            RunResult result = vcpu.Run();
            if (result.Reason != KvmExitReason.Io || result.Interrupted)
                throw new BenchException($"stub kernel: exit {result.Reason}");
            IoExit io = vcpu.Io;
            if (io.Port != KvmbenchGuests.PioPort || !io.IsOut || io.Size != 1 || io.Count != 1)
                throw new BenchException("stub kernel: not the preset I/O exit");
        }
    }

    private static void RunMmio(Vcpu vcpu, long calls)
    {
        for (long k = 0; k < calls; k++)
        {
            RunResult result = vcpu.Run();
            if (result.Reason != KvmExitReason.Mmio || result.Interrupted)
                throw new BenchException($"stub kernel: exit {result.Reason}");
            MmioExit mmio = vcpu.Mmio;
            if (mmio.PhysicalAddress != KvmbenchGuests.MmioAddress || !mmio.IsWrite || mmio.Data.Length != 1)
                throw new BenchException("stub kernel: not the preset MMIO exit");
        }
    }

    private static void PresetPioExit(ref KvmRun run)
    {
        run.ExitReason = KvmExitReason.Io;
        run.Io = new KvmRunIo { Direction = KvmConstants.KVM_RUN_IO_DIRECTION_OUT, Size = 1, Port = KvmbenchGuests.PioPort, Count = 1, DataOffset = 4096 };
    }

    private static void PresetMmioExit(ref KvmRun run)
    {
        run.ExitReason = KvmExitReason.Mmio;
        run.Mmio.PhysAddr = KvmbenchGuests.MmioAddress;
        run.Mmio.Len = 1;
        run.Mmio.IsWrite = 1;
    }

    [LibraryImport("libc", EntryPoint = "ioctl", SetLastError = true)]
    private static partial int Ioctl(int fd, nuint request, nint arg);

    private delegate void RunBlockPreset(ref KvmRun run);

    /// <summary>
    /// A kernel that answers every request at once: KVM_RUN leaves the preset
    /// exit in the run block. Only for measuring what lies above the seam.
    /// </summary>
    private sealed class StubKernel(RunBlockPreset preset) : IKvmKernel, IDisposable
    {
        private const int RunAreaSize = 3 * 4096;
        private readonly List<nint> _mappings = new();
        private int _nextFd = 1000;

        public string Name => "stub";

        public int OpenSystem() => _nextFd++;

        public int Ioctl(int fd, ulong request, nint arg)
        {
            if (request == KvmIoctls.KVM_GET_API_VERSION)
                return KvmConstants.KVM_API_VERSION;
            if (request == KvmIoctls.KVM_GET_VCPU_MMAP_SIZE)
                return RunAreaSize;
            if (request == KvmIoctls.KVM_CREATE_VM || request == KvmIoctls.KVM_CREATE_VCPU)
                return _nextFd++;
            return 0;
        }

        public nint MapShared(int fd, nuint length, out int errno)
        {
            var area = (nint)NativeMemory.AlignedAlloc(length, 4096);
            NativeMemory.Clear((void*)area, length);
            preset(ref *(KvmRun*)area);
            _mappings.Add(area);
            errno = 0;
            return area;
        }

        // Freed in Dispose, after every vCPU using it is closed.
        public void Unmap(nint address, nuint length)
        {
        }

        public int Close(int fd) => 0;

        public void Dispose()
        {
            foreach (nint area in _mappings)
                NativeMemory.AlignedFree((void*)area);
            _mappings.Clear();
        }
    }
}
