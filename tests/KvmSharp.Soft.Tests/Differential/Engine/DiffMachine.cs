using System.Buffers.Binary;
using KvmSharp.Abi;
using KvmSharp.Vmm.Memory;

namespace KvmSharp.Soft.Tests.Differential;

/// <summary>
/// One VM on one kernel that runs user-mode (CPL 3) sequences over and over.
/// The ring-0 part — page tables, GDT, TSS with an I/O bitmap, IDT — is built
/// once; each run only rewrites code and data and reloads registers, because on
/// kvm_pvm everything done at ring 0 is emulated and slow.
/// </summary>
/// <remarks>
/// Guest-physical layout, identity-mapped with 2 MiB pages in long mode:
/// 0–2 MiB supervisor (tables, GDT 0x4000, TSS 0x5000, IDT 0x8000, handlers 0x9000, the 32-bit protected mode's IDT
/// 0xD000 and TSS 0xE000, ring-0 stack below 0x80000);
/// 2–4 MiB user read-only (code at 0x200000); 4–6 MiB user read-write (data and the user stack at 0x400000);
/// 6 MiB and up not present. 32-bit protected mode runs without paging (kvm_pvm shuts a guest down at its first
/// instruction with 32-bit or PAE paging outside long mode), so there the same addresses are plain RAM and 6 MiB and up
/// is MMIO. Every exception vector's handler is a HLT at 0x9000 + 16·vector, so a HLT exit
/// names the vector and the interrupt frame on the ring-0 stack holds the rest.
/// </remarks>
public sealed class DiffMachine : IDisposable
{
    public const ulong RamSize = 0x60_0000;
    public const ulong CodeAddress = 0x20_0000;
    public const ulong DataAddress = 0x40_0000;
    /// <summary>Compared after every run: the data page memory operands use, then the page the user stack lives in.</summary>
    public const int DataSize = 0x2000;
    public const ulong UserStackTop = DataAddress + 0x1800;
    public const ulong UnmappedAddress = 0x60_0000;
    public const ulong SupervisorAddress = 0x1000;
    public const ushort StopPort = 0xF4;

    /// <summary>
    /// Where the code starts as the code sees it: its linear address, except in 16-bit mode, where the code segment's
    /// base is <see cref="CodeAddress"/> and IP starts at 0 (a 16-bit IP cannot hold 0x200000).
    /// </summary>
    public static ulong CodeStart(int bitness) => bitness == 16 ? 0 : CodeAddress;

    /// <summary>Where the data page starts as the code sees it (in 16-bit mode DS, ES and SS are based at <see cref="DataAddress"/>).</summary>
    public static ulong DataStart(int bitness) => bitness == 16 ? 0 : DataAddress;

    /// <summary>The initial stack pointer as the code sees it.</summary>
    public static ulong StackTop(int bitness) => UserStackTop - DataAddress + DataStart(bitness);

    private const ulong Pml4 = 0x1000, Pdpt = 0x2000, PageDirectory = 0x3000, Gdt = 0x4000, Tss = 0x5000, Idt = 0x8000;
    private const ulong HandlerBase = 0x9000, KernelStackTop = 0x8_0000;
    private const ulong Idt32 = 0xD000, Tss32 = 0xE000, InterruptVectorTable = 0xC000;
    private const int SystemAreaEnd = 0x1_1000;
    private const ushort KernelCs = 0x08, KernelDs = 0x10, UserCs32 = 0x1B, UserDs = 0x23, UserCs64 = 0x2B, TssSelector = 0x30;
    private const ushort KernelCs32 = 0x40, Tss32Selector = 0x48, UserCs16 = 0x53, UserDs16 = 0x5B;
    private static readonly int[] s_vectorsWithErrorCode = [8, 10, 11, 12, 13, 14, 17, 21, 29, 30];

    private readonly Kvm _kvm;
    private readonly GuestRam _ram;
    private global::KvmSharp.Vm _vm;
    private global::KvmSharp.Vcpu _vcpu;
    private readonly byte[] _systemArea;
    private readonly KvmSregs _resetSregs;

    public DiffMachine(IKvmKernelFactory kernel)
    {
        _kvm = Kvm.Open(kernel.Create());
        _ram = new GuestRam(RamSize);
        BuildSystemArea(_ram.Span);
        _systemArea = _ram.Span[..SystemAreaEnd].ToArray();
        (_vm, _vcpu) = CreateVm();
        _resetSregs = _vcpu.GetSregs();
        KernelName = kernel.Name;
        _watchdog = new Thread(WatchRuns) { IsBackground = true, Name = $"diff watchdog ({kernel.Name})" };
        _watchdog.Start();
    }

    private (global::KvmSharp.Vm, global::KvmSharp.Vcpu) CreateVm()
    {
        var vm = _kvm.CreateVm();
        vm.SetUserMemoryRegion(0, 0, RamSize, _ram.Address);
        var vcpu = vm.CreateVcpu(0);
        vcpu.SetCpuid2(_kvm.GetSupportedCpuid());
        return (vm, vcpu);
    }

    /// <summary>
    /// A fresh VM for every 32-bit protected-mode run: kvm_pvm's results there depend on what earlier runs in the same
    /// VM did (a sequence that agrees in a new VM can fault in the middle of its stop instruction after a few hundred
    /// other runs), so each run starts from nothing on both kernels.
    /// </summary>
    private void RecreateVm()
    {
        _vcpu.Dispose();
        _vm.Dispose();
        (_vm, _vcpu) = CreateVm();
    }

    public string KernelName { get; }

    /// <summary>KVM_RUN calls without reaching the stop or a handler after which a run is reported as stuck.</summary>
    public const int MaxExitsPerRun = 64;

    /// <summary>Whether the last run wrote into its own code or the stop after it (possible only without paging).</summary>
    public bool CodeOverwritten { get; private set; }

    public Outcome Run(TestCase test)
    {
        var outcome = RunOnce(test);
        var xsave = _vcpu.GetXsave();
        outcome = outcome with { Xmm = XmmOf(xsave), Mxcsr = MxcsrOf(xsave), X87 = X87Of(xsave), Segments = SegmentsAfter(test, outcome) };
        int stop = (int)CodeAddress + test.Code.Length;
        ReadOnlySpan<byte> ram = _ram.Span;
        CodeOverwritten = !ram.Slice((int)CodeAddress, test.Code.Length).SequenceEqual(test.Code)
            || ram[stop] != 0xE6 || ram[stop + 1] != (byte)StopPort || ram.Slice(stop + 2, 16).ContainsAnyExcept((byte)0xF4);
        return outcome;
    }

    private Outcome RunOnce(TestCase test)
    {
        Span<byte> ram = _ram.Span;
        _systemArea.CopyTo(ram);
        byte[] code = test.Code;
        code.CopyTo(ram[(int)CodeAddress..]);
        int stop = (int)CodeAddress + code.Length;
        ram[stop] = 0xE6; // out StopPort, al
        ram[stop + 1] = (byte)StopPort;
        // Past the stop: HLT, which faults (#GP) at CPL 3 on every engine. INT3 would not do: kvm_pvm and KVM's emulator
        // deliver it as #BP or #UD whatever the gate's DPL, and 32-bit code without paging can overwrite its own stop.
        ram.Slice(stop + 2, 16).Fill(0xF4);
        test.InitialData().CopyTo(ram[(int)DataAddress..]);
        // String ops with a runaway count reach past the compared region; what they find there must not depend on earlier runs.
        ram[((int)DataAddress + DataSize)..(int)UnmappedAddress].Clear();
        // Segment loads reach the memory between the system area and the code (real mode up to 0x10FFEF): clear it too,
        // so that what a run reads there never depends on earlier runs.
        if (test.Mode != GuestMode.Long64) ram[SystemAreaEnd..(int)CodeAddress].Clear();

        if (test.Mode.RunsWithoutPaging()) RecreateVm();
        _vcpu.SetSregs(UserSregs(test.Mode));
        _frameWidth = test.Mode == GuestMode.Real16 ? 2 : test.Mode.RunsWithoutPaging() ? 4 : 8;
        var regs = new KvmRegs { Rip = CodeStart(test.Bitness), Rflags = test.Rflags };
        SetGprs(ref regs, test.Gprs);
        _vcpu.SetRegs(regs);
        _vcpu.SetXsave(WithFloatingPointState(_vcpu.GetXsave(), test.InitialX87(), test.InitialXmm(), test.Mxcsr));

        for (int exits = 0; exits < MaxExitsPerRun; exits++)
        {
            Volatile.Write(ref _runStartedAt, Environment.TickCount64);
            var result = _vcpu.Run();
            Volatile.Write(ref _runStartedAt, 0);
            if (_timedOut)
            {
                _timedOut = false;
                _vcpu.RunBlock.ImmediateExit = 0;
                // The watchdog kicked a guest that ran on without an exit; its state at that moment is arbitrary. (A kick
                // that came just after a normal exit is dropped with the flag.)
                if (result.Interrupted) return Snapshot(OutcomeKind.OtherExit, RunawayDetail);
            }
            if (result.Reason == KvmExitReason.Io)
            {
                var io = _vcpu.Io;
                if (io.Port == StopPort && io.IsOut)
                    return Snapshot(OutcomeKind.Stop, "");
                return Snapshot(OutcomeKind.OtherExit, $"io port 0x{io.Port:x} {(io.IsOut ? "out" : "in")}");
            }
            if (result.Reason == KvmExitReason.Hlt)
                return ExceptionSnapshot();
            if (result.Interrupted)
                continue;
            return Snapshot(OutcomeKind.OtherExit, result.Reason.ToString());
        }
        return Snapshot(OutcomeKind.OtherExit, "no stop");
    }

    /// <summary>The detail of an outcome the watchdog ended: the guest ran for <see cref="RunawayLimitMs"/> without an exit.</summary>
    public const string RunawayDetail = "runaway";

    /// <summary>
    /// How long one KVM_RUN may go on. A sequence can hand control to bytes it wrote itself (say, a vector table it
    /// overwrote in real mode), which may loop without an exit for ever; the watchdog kicks the vCPU out.
    /// </summary>
    public const int RunawayLimitMs = 3000;

    private long _runStartedAt;
    private volatile bool _timedOut;
    private readonly Thread _watchdog;
    private volatile bool _disposed;

    private void WatchRuns()
    {
        while (!_disposed)
        {
            Thread.Sleep(250);
            long started = Volatile.Read(ref _runStartedAt);
            if (started != 0 && Environment.TickCount64 - started > RunawayLimitMs && !_timedOut)
            {
                _timedOut = true;
                try { _vcpu.Kick(); } catch (ObjectDisposedException) { }
            }
        }
    }

    /// <summary>Bytes per interrupt-frame slot: 8 in long mode, 4 in 32-bit protected mode.</summary>
    private int _frameWidth = 8;

    private Outcome Snapshot(OutcomeKind kind, string detail)
    {
        var regs = _vcpu.GetRegs();
        return new Outcome(kind, detail, -1, 0, 0, Gprs(regs), regs.Rip, regs.Rflags, _ram.Span.Slice((int)DataAddress, DataSize).ToArray());
    }

    private Outcome ExceptionSnapshot()
    {
        if (_frameWidth == 2) return RealModeExceptionSnapshot();
        var regs = _vcpu.GetRegs();
        ulong handler = regs.Rip - 1 - HandlerBase;
        if (regs.Rip <= HandlerBase || handler >= 256 * 16 || handler % 16 != 0)
            return Snapshot(OutcomeKind.OtherExit, $"hlt at 0x{regs.Rip:x}");
        int vector = (int)(handler / 16);
        ulong frame = regs.Rsp;
        if (frame < KernelStackTop - 0x100 || frame >= KernelStackTop)
            return Snapshot(OutcomeKind.OtherExit, $"vector {vector} with ring-0 rsp 0x{frame:x}");
        int width = _frameWidth;
        ulong Read(ulong slot) => width == 8
            ? BinaryPrimitives.ReadUInt64LittleEndian(_ram.Span[(int)(frame + slot * 8)..])
            : BinaryPrimitives.ReadUInt32LittleEndian(_ram.Span[(int)(frame + slot * 4)..]);
        ulong errorCode = 0;
        if (s_vectorsWithErrorCode.Contains(vector))
        {
            errorCode = Read(0);
            frame += (ulong)width;
        }
        ulong rip = Read(0), cs = Read(1), rflags = Read(2), rsp = Read(3);
        var gprs = Gprs(regs);
        gprs[4] = rsp;
        string detail = cs is UserCs64 or UserCs32 or UserCs16 ? "" : $"from cs 0x{cs:x}";
        ulong cr2 = vector == 14 ? _vcpu.GetSregs().Cr2 : 0;
        return new Outcome(OutcomeKind.Exception, detail, vector, errorCode, cr2, gprs, rip, rflags,
            _ram.Span.Slice((int)DataAddress, DataSize).ToArray());
    }

    /// <summary>
    /// Real mode has no privilege levels and no error codes: the handler's IP, FLAGS, CS frame is on the user's
    /// stack (inside the compared data page), and a HLT in the sequence itself just halts.
    /// </summary>
    private Outcome RealModeExceptionSnapshot()
    {
        var regs = _vcpu.GetRegs();
        ulong linear = _vcpu.GetSregs().Cs.Base + regs.Rip - 1;
        ulong handler = linear - HandlerBase;
        if (linear < HandlerBase || handler >= 256 * 16 || handler % 16 != 0)
            return Snapshot(OutcomeKind.OtherExit, $"hlt at 0x{regs.Rip:x}");
        int vector = (int)(handler / 16);
        ulong sp = regs.Rsp & 0xFFFF;
        ulong Read(ulong slot) => BinaryPrimitives.ReadUInt16LittleEndian(_ram.Span[(int)(DataAddress + ((sp + slot * 2) & 0xFFFF))..]);
        ulong ip = Read(0), cs = Read(1), flags = Read(2);
        var gprs = Gprs(regs);
        gprs[4] = (regs.Rsp & ~0xFFFFUL) | ((sp + 6) & 0xFFFF);
        // The frame is reported as RIP and RFLAGS (where undefined flags are masked); left in the data it would
        // compare the FLAGS image's undefined bits too.
        var data = _ram.Span.Slice((int)DataAddress, DataSize).ToArray();
        for (ulong i = 0; i < 6; i++)
            if (((sp + i) & 0xFFFF) < DataSize) data[(sp + i) & 0xFFFF] = 0;
        return new Outcome(OutcomeKind.Exception, cs == 0 ? "" : $"from cs 0x{cs:x}", vector, 0, 0, gprs, ip,
            (regs.Rflags & ~0xFFFFUL) | flags, data);
    }

    /// <summary>
    /// The segment registers at the end. An exception's handler runs with the kernel's CS and SS (in real mode: CS), which
    /// say nothing about the user code: they are reported as the mode's initial ones, the frame having the user's selectors.
    /// </summary>
    private SegmentState[] SegmentsAfter(TestCase test, Outcome outcome)
    {
        var segments = SegmentState.All(_vcpu.GetSregs());
        if (outcome.Kind == OutcomeKind.Exception)
        {
            var initial = InitialSegments(test.Mode);
            segments[1] = initial[1];
            if (test.Mode != GuestMode.Real16) segments[2] = initial[2];
        }
        return segments;
    }

    /// <summary>ES, CS, SS, DS, FS and GS as a case in <paramref name="mode"/> starts.</summary>
    public static SegmentState[] InitialSegments(GuestMode mode) => SegmentState.All(UserSregs(default, mode));

    private KvmSregs UserSregs(GuestMode mode) => UserSregs(_resetSregs, mode);

    private static KvmSregs UserSregs(KvmSregs reset, GuestMode mode)
    {
        var s = reset;
        s.Cs = mode == GuestMode.Long64
            ? new KvmSegment { Selector = UserCs64, Type = 11, Present = 1, Dpl = 3, S = 1, L = 1, G = 1, Limit = 0xFFFF_FFFF }
            : new KvmSegment { Selector = UserCs32, Type = 11, Present = 1, Dpl = 3, S = 1, Db = 1, G = 1, Limit = 0xFFFF_FFFF };
        var data = new KvmSegment { Selector = UserDs, Type = 3, Present = 1, Dpl = 3, S = 1, Db = 1, G = 1, Limit = 0xFFFF_FFFF };
        s.Ds = s.Es = s.Fs = s.Gs = s.Ss = data;
        s.Tr = new KvmSegment { Selector = TssSelector, Base = Tss, Limit = 0x2068, Type = 11, Present = 1 };
        s.Ldt = new KvmSegment { Type = 2, Unusable = 1 };
        // Up to the 16-bit segments' descriptors, which 16-bit compatibility-mode code may load.
        s.Gdt = new KvmDtable { Base = Gdt, Limit = 0x5F };
        s.Idt = new KvmDtable { Base = Idt, Limit = 0xFFF };
        s.Cr0 = 0x8005_0033; // PG AM WP NE ET MP PE
        s.Cr2 = 0;
        s.Cr3 = Pml4;
        s.Cr4 = 0x620; // OSXMMEXCPT OSFXSR PAE
        s.Efer = 0x500; // LMA LME
        if (mode.RunsWithoutPaging())
        {
            s.Tr = new KvmSegment { Selector = Tss32Selector, Base = Tss32, Limit = 0x2068, Type = 11, Present = 1 };
            s.Gdt = new KvmDtable { Base = Gdt, Limit = 0x5F };
            s.Idt = new KvmDtable { Base = Idt32, Limit = 0x7FF };
            s.Cr0 = 0x0005_0033; // AM WP NE ET MP PE
            s.Cr3 = 0;
            s.Cr4 = 0x600; // OSXMMEXCPT OSFXSR
            s.Efer = 0;
        }
        if (mode is GuestMode.Protected16 or GuestMode.Compat16)
        {
            s.Cs = new KvmSegment { Selector = UserCs16, Base = CodeAddress, Limit = 0xFFFF, Type = 11, Present = 1, Dpl = 3, S = 1 };
            var data16 = new KvmSegment { Selector = UserDs16, Base = DataAddress, Limit = 0xFFFF, Type = 3, Present = 1, Dpl = 3, S = 1 };
            s.Ds = s.Es = s.Fs = s.Gs = s.Ss = data16;
        }
        if (mode == GuestMode.Real16)
        {
            // Selectors 0: the hidden bases are what counts, and a real-mode interrupt pushes CS = 0.
            s.Cs = new KvmSegment { Base = CodeAddress, Limit = 0xFFFF, Type = 11, Present = 1, S = 1 };
            var data16 = new KvmSegment { Base = DataAddress, Limit = 0xFFFF, Type = 3, Present = 1, S = 1 };
            s.Ds = s.Es = s.Fs = s.Gs = s.Ss = data16;
            s.Tr = new KvmSegment { Limit = 0xFFFF, Type = 11, Present = 1 };
            s.Idt = new KvmDtable { Base = InterruptVectorTable, Limit = 0x3FF };
            s.Cr0 = 0x10; // ET
            s.Cr4 = 0;
        }
        return s;
    }

    private static void BuildSystemArea(Span<byte> ram)
    {
        static void Write64(Span<byte> ram, ulong address, ulong value) => BinaryPrimitives.WriteUInt64LittleEndian(ram[(int)address..], value);
        const ulong present = 1, writable = 2, user = 4, accessed = 0x20, dirty = 0x40, large = 0x80;
        Write64(ram, Pml4, Pdpt | present | writable | user | accessed);
        Write64(ram, Pdpt, PageDirectory | present | writable | user | accessed);
        // Accessed and dirty are preset so no page walk ever writes a table.
        Write64(ram, PageDirectory + 0, 0x00_0000 | present | writable | accessed | dirty | large);
        Write64(ram, PageDirectory + 8, 0x20_0000 | present | user | accessed | dirty | large);
        Write64(ram, PageDirectory + 16, 0x40_0000 | present | writable | user | accessed | dirty | large);

        Write64(ram, Gdt + KernelCs, 0x00AF_9B00_0000_FFFF);
        Write64(ram, Gdt + 0x10, 0x00CF_9300_0000_FFFF);
        Write64(ram, Gdt + (UserCs32 & ~3), 0x00CF_FB00_0000_FFFF);
        Write64(ram, Gdt + (UserDs & ~3), 0x00CF_F300_0000_FFFF);
        Write64(ram, Gdt + (UserCs64 & ~3), 0x00AF_FB00_0000_FFFF);
        Write64(ram, Gdt + TssSelector, 0x0000_8B00_5000_2068);

        Write64(ram, Gdt + KernelCs32, 0x00CF_9B00_0000_FFFF);
        Write64(ram, Gdt + Tss32Selector, 0x0000_8B00_E000_2068);
        // The 16-bit mode's segments (loaded through KVM_SET_SREGS; here so that their selectors name real descriptors).
        Write64(ram, Gdt + (UserCs16 & ~3), 0x0000_FB20_0000_FFFF);
        Write64(ram, Gdt + (UserDs16 & ~3), 0x0000_F340_0000_FFFF);

        Write64(ram, Tss + 4, KernelStackTop);
        // kvm_pvm checks the I/O bitmap even at IOPL 3, so every port is allowed in it.
        BinaryPrimitives.WriteUInt16LittleEndian(ram[(int)(Tss + 0x66)..], 0x68);
        ram[(int)Tss + 0x68 + 8192] = 0xFF;

        Build32BitProtectedMode(ram);
        // Real mode's vector table: segment 0x900, offset 16·vector, the same handlers.
        for (int vector = 0; vector < 256; vector++)
            BinaryPrimitives.WriteUInt32LittleEndian(ram[(int)(InterruptVectorTable + (ulong)vector * 4)..], (uint)(vector * 16) | (uint)(HandlerBase >> 4) << 16);

        for (int vector = 0; vector < 256; vector++)
        {
            ulong handler = HandlerBase + (ulong)vector * 16;
            ram[(int)handler] = 0xF4; // hlt
            ulong gate = Idt + (ulong)vector * 16;
            Write64(ram, gate, (handler & 0xFFFF) | ((ulong)KernelCs << 16) | (0x8EUL << 40) | ((handler >> 16 & 0xFFFF) << 48));
            Write64(ram, gate + 8, handler >> 32);
        }
    }

    /// <summary>
    /// The 32-bit protected mode's own tables: an IDT of 32-bit interrupt gates to the same handlers, and a 32-bit TSS
    /// with the ring-0 stack and an all-allowing I/O bitmap.
    /// </summary>
    private static void Build32BitProtectedMode(Span<byte> ram)
    {
        static void Write32(Span<byte> ram, ulong address, uint value) => BinaryPrimitives.WriteUInt32LittleEndian(ram[(int)address..], value);
        for (int vector = 0; vector < 256; vector++)
        {
            uint handler = (uint)(HandlerBase + (ulong)vector * 16);
            Write32(ram, Idt32 + (ulong)vector * 8, (handler & 0xFFFF) | ((uint)KernelCs32 << 16));
            Write32(ram, Idt32 + (ulong)vector * 8 + 4, (handler & 0xFFFF_0000) | 0x8E00);
        }
        Write32(ram, Tss32 + 4, (uint)KernelStackTop);
        Write32(ram, Tss32 + 8, KernelDs);
        BinaryPrimitives.WriteUInt16LittleEndian(ram[(int)(Tss32 + 0x66)..], 0x68);
        ram[(int)Tss32 + 0x68 + 8192] = 0xFF;
    }

    // The XSAVE image's legacy region: FCW and FSW in its first word, the abridged tag word in the low byte of the second,
    // MXCSR at byte 24, ST0-7 in 16-byte slots from byte 32, XMM0-15 from byte 160; XSTATE_BV at byte 512 (bits 0 and 1:
    // x87 and SSE state present).
    private const int MxcsrWord = 24 / 4, StWord = 32 / 4, XmmWord = 160 / 4, XstateBvWord = 512 / 4;

    private static unsafe KvmXsave WithFloatingPointState(KvmXsave xsave, X87State x87, ulong[] xmm, uint mxcsr)
    {
        xsave.Region[0] = x87.Fcw | (uint)x87.Fsw << 16;
        xsave.Region[1] = (xsave.Region[1] & 0xFFFF_0000) | x87.Ftw;
        for (int i = 0; i < 8; i++)
        {
            xsave.Region[StWord + 4 * i] = (uint)x87.Significands[i];
            xsave.Region[StWord + 4 * i + 1] = (uint)(x87.Significands[i] >> 32);
            xsave.Region[StWord + 4 * i + 2] = x87.SignExponents[i];
            xsave.Region[StWord + 4 * i + 3] = 0;
        }
        xsave.Region[MxcsrWord] = mxcsr;
        for (int i = 0; i < xmm.Length; i++)
        {
            xsave.Region[XmmWord + 2 * i] = (uint)xmm[i];
            xsave.Region[XmmWord + 2 * i + 1] = (uint)(xmm[i] >> 32);
        }
        xsave.Region[XstateBvWord] |= 3;
        return xsave;
    }

    private static unsafe ulong[] XmmOf(KvmXsave xsave)
    {
        var xmm = new ulong[32];
        for (int i = 0; i < xmm.Length; i++)
            xmm[i] = xsave.Region[XmmWord + 2 * i] | (ulong)xsave.Region[XmmWord + 2 * i + 1] << 32;
        return xmm;
    }

    private static unsafe uint MxcsrOf(KvmXsave xsave) => xsave.Region[MxcsrWord];

    private static unsafe X87State X87Of(KvmXsave xsave)
    {
        var significands = new ulong[8];
        var signExponents = new ushort[8];
        for (int i = 0; i < 8; i++)
        {
            significands[i] = xsave.Region[StWord + 4 * i] | (ulong)xsave.Region[StWord + 4 * i + 1] << 32;
            signExponents[i] = (ushort)xsave.Region[StWord + 4 * i + 2];
        }
        return new X87State((ushort)xsave.Region[0], (ushort)(xsave.Region[0] >> 16), (byte)xsave.Region[1], significands, signExponents);
    }

    private static ulong[] Gprs(in KvmRegs r) =>
        [r.Rax, r.Rcx, r.Rdx, r.Rbx, r.Rsp, r.Rbp, r.Rsi, r.Rdi, r.R8, r.R9, r.R10, r.R11, r.R12, r.R13, r.R14, r.R15];

    private static void SetGprs(ref KvmRegs r, ulong[] g)
    {
        (r.Rax, r.Rcx, r.Rdx, r.Rbx, r.Rsp, r.Rbp, r.Rsi, r.Rdi) = (g[0], g[1], g[2], g[3], g[4], g[5], g[6], g[7]);
        (r.R8, r.R9, r.R10, r.R11, r.R12, r.R13, r.R14, r.R15) = (g[8], g[9], g[10], g[11], g[12], g[13], g[14], g[15]);
    }

    public void Dispose()
    {
        _disposed = true;
        _vcpu.Dispose();
        _vm.Dispose();
        _ram.Dispose();
        _kvm.Dispose();
    }
}

/// <summary>Makes a fresh kernel of one kind; the machine owns what it creates.</summary>
public interface IKvmKernelFactory
{
    string Name { get; }
    KvmSharp.Kernel.IKvmKernel Create();
}

public sealed class HostKernelFactory : IKvmKernelFactory
{
    public string Name => "host";
    public KvmSharp.Kernel.IKvmKernel Create() => new KvmSharp.Kernel.HostKernel();
    public static bool IsAvailable => new KvmSharp.Kernel.HostKernel().IsAvailable();
}

public sealed class SoftKernelFactory : IKvmKernelFactory
{
    public string Name => "soft";
    public KvmSharp.Kernel.IKvmKernel Create() => new SoftKernel();
}
