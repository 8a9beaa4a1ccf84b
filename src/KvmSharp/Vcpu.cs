using KvmSharp.Abi;
using KvmSharp.Kernel;
using static KvmSharp.Abi.KvmIoctls;

namespace KvmSharp;

/// <summary>
/// A virtual CPU: KVM_RUN with a zero-copy view of its kvm_run block, and its
/// register state. As the KVM document asks, use a vCPU from the thread that created it.
/// </summary>
public sealed unsafe partial class Vcpu : IDisposable
{
    private readonly nint _runBlock;
    private readonly int _runBlockSize;
    private int _disposed;
    private volatile int _runningThreadId;

    internal Vcpu(Vm vm, KvmHandle handle, uint id, int runBlockSize)
    {
        Vm = vm;
        Handle = handle;
        Id = id;
        if (runBlockSize < sizeof(KvmRun))
            throw new InvalidOperationException($"The {vm.Kvm.Kernel.Name} kernel reports a vCPU mapping of {runBlockSize} bytes, smaller than struct kvm_run ({sizeof(KvmRun)} bytes).");
        _runBlock = vm.Kvm.Kernel.MapShared(handle.Fd, (nuint)runBlockSize, out int errno);
        if (_runBlock == 0)
            throw new KvmException((Errno)errno, "mmap", $"the kvm_run block of vCPU {id} ({runBlockSize} bytes)");
        _runBlockSize = runBlockSize;
    }

    public Vm Vm { get; }

    public KvmHandle Handle { get; }

    public uint Id { get; }

    /// <summary>The shared kvm_run block, read and written in place.</summary>
    public ref KvmRun RunBlock
    {
        get
        {
            ThrowIfClosed();
            return ref *(KvmRun*)_runBlock;
        }
    }

    /// <summary>The whole mapped area (kvm_run plus the pages after it that carry I/O data).</summary>
    public Span<byte> RunArea
    {
        get
        {
            ThrowIfClosed();
            return new Span<byte>((void*)_runBlock, _runBlockSize);
        }
    }

    /// <summary>
    /// KVM_RUN: runs the guest until it exits. EINTR (a signal, or
    /// immediate_exit) and EAGAIN are outcomes, not failures; every other errno throws.
    /// </summary>
    [KvmIoctl("KVM_RUN")]
    public RunResult Run()
    {
        ThrowIfClosed();
        _runningThreadId = CurrentThreadId;
        int result;
        try
        {
            result = Handle.TryCall(KVM_RUN, 0);
        }
        finally
        {
            _runningThreadId = 0;
        }
        if (result >= 0)
            return new RunResult(((KvmRun*)_runBlock)->ExitReason, 0);
        var errno = (Errno)(-result);
        if (errno == Errno.EINTR)
        {
            // The interruption consumed any kick: the next Run enters the guest.
            ((KvmRun*)_runBlock)->ImmediateExit = 0;
            return new RunResult(KvmExitReason.Intr, errno);
        }
        if (errno == Errno.EAGAIN)
            return new RunResult(KvmExitReason.Intr, errno);
        throw new KvmException(errno, nameof(KVM_RUN), $"vCPU {Id}");
    }

    // gettid is a system call (~170 ns here, 2-3% of an exit); a thread's id never
    // changes, so each thread asks once.
    [ThreadStatic]
    private static int t_threadId;

    private static int CurrentThreadId => t_threadId != 0 ? t_threadId : t_threadId = KickSignal.Gettid();

    /// <summary>
    /// Makes the vCPU's current KVM_RUN, or its next one, return with
    /// <see cref="KvmExitReason.Intr"/>: sets immediate_exit and signals the
    /// thread inside KVM_RUN, as the KVM document recommends. Any thread may call it.
    /// </summary>
    public void Kick()
    {
        ThrowIfClosed();
        Volatile.Write(ref ((KvmRun*)_runBlock)->ImmediateExit, 1);
        KickSignal.Send(_runningThreadId);
    }

    /// <summary>The I/O exit the last <see cref="Run"/> reported, with its data in place.</summary>
    public IoExit Io
    {
        get
        {
            ref KvmRun run = ref RunBlock;
            if (run.ExitReason != KvmExitReason.Io)
                throw new InvalidOperationException($"The last exit of vCPU {Id} was {run.ExitReason}, not an I/O exit.");
            ulong length = (ulong)run.Io.Size * run.Io.Count;
            ulong offset = run.Io.DataOffset;
            // The offset comes from the kernel; never trust it beyond the mapping.
            if (offset > (ulong)_runBlockSize || length > (ulong)_runBlockSize - offset)
                throw new InvalidOperationException($"The kernel placed {length} bytes of I/O data at offset {offset}, outside the {_runBlockSize}-byte run area.");
            return new IoExit(run.Io.Port, run.Io.Direction == KvmConstants.KVM_RUN_IO_DIRECTION_OUT, run.Io.Size, run.Io.Count,
                new Span<byte>((byte*)_runBlock + offset, (int)length));
        }
    }

    /// <summary>The MMIO exit the last <see cref="Run"/> reported, with its data in place.</summary>
    public MmioExit Mmio
    {
        get
        {
            ref KvmRun run = ref RunBlock;
            if (run.ExitReason != KvmExitReason.Mmio)
                throw new InvalidOperationException($"The last exit of vCPU {Id} was {run.ExitReason}, not an MMIO exit.");
            int length = (int)Math.Min(run.Mmio.Len, 8u);
            byte* data = (byte*)_runBlock + KvmRun.PayloadOffset + sizeof(ulong);
            return new MmioExit(run.Mmio.PhysAddr, run.Mmio.IsWrite != 0, new Span<byte>(data, length));
        }
    }

    // The run block is unmapped with the handle: a closed vCPU answers EBADF as its fd would.
    private void ThrowIfClosed()
    {
        if (_disposed != 0)
            throw new KvmException(Errno.EBADF, nameof(KVM_RUN), $"vCPU {Id}, which is closed");
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        Vm.Kvm.Kernel.Unmap(_runBlock, (nuint)_runBlockSize);
        Handle.Dispose();
    }
}

/// <summary>What one KVM_RUN ended with.</summary>
/// <param name="Reason">The exit reason; <see cref="KvmExitReason.Intr"/> when the call was interrupted.</param>
/// <param name="Errno">0 when KVM_RUN returned normally; EINTR or EAGAIN otherwise.</param>
public readonly record struct RunResult(KvmExitReason Reason, Errno Errno)
{
    public bool Interrupted => Errno != 0;
}

/// <summary>An I/O port exit: for IN the caller fills <see cref="Data"/>, for OUT it reads it.</summary>
public readonly ref struct IoExit(ushort port, bool isOut, byte size, uint count, Span<byte> data)
{
    public ushort Port { get; } = port;
    public bool IsOut { get; } = isOut;
    /// <summary>Bytes per access: 1, 2 or 4.</summary>
    public byte Size { get; } = size;
    /// <summary>Accesses (more than one for a string instruction with REP).</summary>
    public uint Count { get; } = count;
    /// <summary><see cref="Size"/> × <see cref="Count"/> bytes inside the run area.</summary>
    public Span<byte> Data { get; } = data;
}

/// <summary>An MMIO exit: for a read the caller fills <see cref="Data"/>, completed on the next KVM_RUN.</summary>
public readonly ref struct MmioExit(ulong physicalAddress, bool isWrite, Span<byte> data)
{
    public ulong PhysicalAddress { get; } = physicalAddress;
    public bool IsWrite { get; } = isWrite;
    public Span<byte> Data { get; } = data;
}
