using System.Buffers.Binary;
using Iced.Intel;
using KvmSharp.Abi;
using static Iced.Intel.AssemblerRegisters;

namespace KvmSharp.Vmm.Guests;

/// <summary>
/// The guest <c>kvmsharp run</c> boots when given nothing else: it starts in
/// 64-bit ring 0 (state set by the host through KVM_SET_SREGS), installs its IDT
/// and the SYSCALL MSRs, drops to ring 3, draws an ASCII Mandelbrot set there
/// in integer fixed-point, hands each finished line to ring 0 with SYSCALL,
/// which writes it to COM1 with one REP OUTSB, and finally powers off with a
/// single OUT.
/// </summary>
/// <remarks>
/// The drawing is in ring 3 and ring 0 does as little as it can because on
/// KVM without VT-x/AMD-V (kvm_pvm) guest ring-0 code runs through the
/// kernel's instruction emulator at about a million instructions per second,
/// while ring-3 code runs natively.
/// </remarks>
public sealed class DefaultGuest
{
    // Guest-physical (= virtual) layout.
    public const ulong MemorySize = 0x10_0000;
    public const ulong SystemAreaBase = 0x1000;
    public const ulong KernelCodeAddress = 0x1_0000;
    /// <summary>LSTAR: a user-readable page whose INT3 (<see cref="KernelCallVector"/>) reaches ring 0 on every KVM.</summary>
    public const ulong SyscallTrampolineAddress = 0x1_1000;
    public const ulong KernelStackTop = 0x2_0000;
    public const ulong UserCodeAddress = 0x2_0000;
    public const ulong UserDataAddress = 0x2_1000;
    public const ulong UserStackTop = 0x3_0000;
    public const ulong PaletteAddress = UserDataAddress;
    public const ulong LineBufferAddress = UserDataAddress + 0x100;

    // The devices the guest talks to.
    public const ushort Com1Port = 0x3F8;
    /// <summary>QEMU's ACPI PM1a control port; writing <see cref="PowerOffValue"/> (16 bits) means "power off".</summary>
    public const ushort PowerOffPort = 0x604;
    public const ushort PowerOffValue = 0x2000;
    public const byte PowerOffSize = 2;
    /// <summary>An exception in the guest writes its vector (one byte) here, then halts.</summary>
    public const ushort PanicPort = 0xF4;

    // The system calls ring 3 makes: RAX = number, RSI = buffer, RDI = length.
    public const int SyscallWrite = 0;
    public const int SyscallPowerOff = 1;
    /// <summary>
    /// The DPL-3 gate the SYSCALL trampoline goes through: #BP, because INT3 is
    /// the one software interrupt kvm_pvm delivers from ring 3 (INT n, e.g.
    /// INT 0x80, raises #UD there even through a DPL-3 gate). A stray INT3 in
    /// ring 3 is therefore a system call too.
    /// </summary>
    public const int KernelCallVector = 3;

    // The picture: c = (X0 + column × Dx, Y0 + row × Dy) in signed fixed point
    // with FractionBits fraction bits; z ← z² + c from z = 0 until |z|² > 4
    // or MaxIterations steps. The character is Ramp[min(n, Ramp.Length − 1)]
    // after n steps, or Inside when z never escaped.
    public const int Columns = 64;
    public const int Rows = 24;
    public const int FractionBits = 16;
    public const int MaxIterations = 64;
    public const long X0 = -140_902;  // ≈ −2.15
    public const long Dx = 2_867;     // ≈ 0.04375
    public const long Dy = 6_554;     // ≈ 0.1
    public const long Y0 = -(Rows - 1) * Dy / 2;
    public const string Ramp = "  ..::--==++**##%%";
    public const char Inside = '@';

    /// <summary>Bytes COM1 receives per line: the columns and a line feed.</summary>
    public const int LineLength = Columns + 1;

    /// <summary>Bytes COM1 receives in all.</summary>
    public const int ConsoleBytes = Rows * LineLength;

    /// <summary>
    /// Whether an I/O exit is the guest's last one. Before it come exactly
    /// <see cref="ConsoleBytes"/> 1-byte OUT exits to <see cref="Com1Port"/>, one per
    /// byte; an exit to <see cref="PanicPort"/> instead means the guest faulted.
    /// </summary>
    public static bool IsPowerOff(bool isOut, ushort port, byte size, ReadOnlySpan<byte> data) =>
        isOut && port == PowerOffPort && size == PowerOffSize && data.Length == PowerOffSize
        && BinaryPrimitives.ReadUInt16LittleEndian(data) == PowerOffValue;

    private DefaultGuest(GuestImage image, LongModeSetup setup, KvmRegs regs, KvmMsrEntry[] hostMsrs, SyscallMsrWriter syscallMsrWriter, ulong kernelCallEntry)
    {
        KernelCallEntry = kernelCallEntry;
        Image = image;
        Setup = setup;
        Regs = regs;
        HostMsrs = hostMsrs;
        SyscallMsrsWrittenBy = syscallMsrWriter;
    }

    /// <summary>Who writes the SYSCALL MSRs (STAR, LSTAR, SFMASK, EFER.SCE).</summary>
    public enum SyscallMsrWriter
    {
        /// <summary>
        /// The guest's ring-0 code, with WRMSR. kvm_pvm emulates these WRMSRs,
        /// but refuses EFER.SCE with #GP unless the vCPU's CPUID (KVM_SET_CPUID2)
        /// advertises SYSCALL, as KVM does everywhere.
        /// </summary>
        Guest,
        /// <summary>
        /// The host, with KVM_SET_MSRS (<see cref="HostMsrs"/>) and EFER in
        /// KVM_SET_SREGS; host-initiated writes skip the CPUID checks, and the
        /// ring-0 start shrinks from 20 instructions to 5.
        /// </summary>
        Host,
    }

    public GuestImage Image { get; }

    public LongModeSetup Setup { get; }

    /// <summary>The registers for KVM_SET_REGS: ring 0 at the entry point.</summary>
    public KvmRegs Regs { get; }

    /// <summary>MSRs the host must set with KVM_SET_MSRS before the first run (empty when the guest sets them).</summary>
    public IReadOnlyList<KvmMsrEntry> HostMsrs { get; }

    public SyscallMsrWriter SyscallMsrsWrittenBy { get; }

    /// <summary>The ring-0 code that serves system calls (the handler of <see cref="KernelCallVector"/>).</summary>
    public ulong KernelCallEntry { get; }

    /// <summary>Sets the long-mode state on <paramref name="sregs"/> (taken from KVM_GET_SREGS).</summary>
    public void ApplyTo(ref KvmSregs sregs)
    {
        Setup.ApplyTo(ref sregs);
        if (SyscallMsrsWrittenBy == SyscallMsrWriter.Host)
            sregs.Efer |= X86.EferSce;
    }

    /// <summary>
    /// Puts the guest into <paramref name="guestRam"/> (which must back
    /// guest-physical 0 onwards in a memory slot) and <paramref name="vcpu"/>:
    /// the image, the kernel's supported CPUID (the guest's WRMSR of EFER.SCE
    /// needs the SYSCALL feature bit in it), the long-mode segment and control
    /// registers, the entry registers and, if the host owns them, the SYSCALL MSRs.
    /// </summary>
    public void Load(Vcpu vcpu, Span<byte> guestRam)
    {
        Image.CopyTo(guestRam);
        vcpu.SetCpuid2(vcpu.Vm.Kvm.GetSupportedCpuid());
        var sregs = vcpu.GetSregs();
        ApplyTo(ref sregs);
        vcpu.SetSregs(sregs);
        vcpu.SetRegs(Regs);
        if (HostMsrs.Count > 0)
        {
            int written = vcpu.SetMsrs(HostMsrs.ToArray());
            if (written != HostMsrs.Count)
                throw new InvalidOperationException($"KVM_SET_MSRS took {written} of the {HostMsrs.Count} SYSCALL MSRs; MSR 0x{HostMsrs[written].Index:x} was refused.");
        }
    }

    public static DefaultGuest Build(SyscallMsrWriter syscallMsrWriter = SyscallMsrWriter.Guest)
    {
        var setup = new LongModeSetup(MemorySize, SystemAreaBase);
        setup.KernelStackTop = KernelStackTop;

        var kernel = AssembleKernel(setup, syscallMsrWriter, out ulong kernelCallEntry, out ulong[] exceptionEntries);
        setup.Place(KernelCodeAddress, kernel, PageAccess.KernelReadOnly);
        // Where SYSCALL lands. With VT-x/AMD-V (and on Soft) SYSCALL enters ring 0
        // here and INT3 stays in ring 0, pushing its frame on the caller's stack.
        // On kvm_pvm, SYSCALL does everything but change the privilege level (RIP,
        // RCX, R11 and the SFMASK'd RFLAGS are right; CS stays the user's), so the
        // page is user-readable and INT3 through a DPL-3 gate is what enters ring 0.
        // Either way the kernel call finds the same registers.
        var trampoline = new Assembler(64);
        trampoline.int3();
        setup.PlaceCode(SyscallTrampolineAddress, trampoline, PageAccess.UserReadOnly);
        setup.Map(KernelStackTop - LongModeSetup.PageSize, LongModeSetup.PageSize, PageAccess.KernelWritable);
        for (int vector = 0; vector < exceptionEntries.Length; vector++)
            setup.SetInterruptGate(vector, exceptionEntries[vector]);
        setup.SetInterruptGate(KernelCallVector, kernelCallEntry, dpl: 3);

        setup.PlaceCode(UserCodeAddress, AssembleUser(), PageAccess.UserReadOnly);
        setup.Place(PaletteAddress, BuildPalette(), PageAccess.UserWritable);
        setup.Map(LineBufferAddress, LineLength, PageAccess.UserWritable);
        setup.Map(UserStackTop - LongModeSetup.PageSize, LongModeSetup.PageSize, PageAccess.UserWritable);

        KvmMsrEntry[] hostMsrs = syscallMsrWriter == SyscallMsrWriter.Host
            ?
            [
                new KvmMsrEntry { Index = X86.MsrStar, Data = LongModeSetup.StarValue },
                new KvmMsrEntry { Index = X86.MsrLstar, Data = SyscallTrampolineAddress },
                new KvmMsrEntry { Index = X86.MsrSfmask, Data = SyscallFlagMask },
            ]
            : [];
        return new DefaultGuest(setup.BuildImage(), setup, LongModeSetup.InitialRegs(KernelCodeAddress, KernelStackTop), hostMsrs, syscallMsrWriter, kernelCallEntry);
    }

    /// <summary>RFLAGS bits SYSCALL clears: no single-stepping, interrupts, reverse strings or alignment checks in ring 0.</summary>
    private const ulong SyscallFlagMask = X86.RflagsTf | X86.RflagsIf | X86.RflagsDf | X86.RflagsNt | X86.RflagsAc;

    private static byte[] AssembleKernel(LongModeSetup setup, SyscallMsrWriter syscallMsrWriter, out ulong kernelCallEntry, out ulong[] exceptionEntries)
    {
        var a = new Assembler(64);
        var kernelCall = a.CreateLabel("kernel_call");
        var powerOff = a.CreateLabel("power_off");
        var halt = a.CreateLabel("halt");

        // Entry: every instruction here is emulated on kvm_pvm, so keep it short.
        a.lidt(__[(long)setup.IdtPseudoDescriptorAddress]);
        if (syscallMsrWriter == SyscallMsrWriter.Guest)
        {
            a.mov(ecx, X86.MsrStar);
            a.xor(eax, eax);
            a.mov(edx, (uint)(LongModeSetup.StarValue >> 32));
            a.wrmsr();
            a.mov(ecx, X86.MsrLstar);
            a.mov(eax, (uint)SyscallTrampolineAddress);
            a.xor(edx, edx);
            a.wrmsr();
            a.mov(ecx, X86.MsrSfmask);
            a.mov(eax, (uint)SyscallFlagMask);
            a.wrmsr();
            a.mov(ecx, X86.MsrEfer);
            a.rdmsr();
            a.or(eax, (int)X86.EferSce);
            a.wrmsr();
        }
        a.mov(rsp, (long)UserStackTop);
        a.mov(ecx, (uint)UserCodeAddress);
        a.mov(r11d, (uint)X86.RflagsFixed);
        a.sysretq();

        // Reached from the trampoline with the SYSCALL registers: RAX = number,
        // RSI = buffer, RDI = length, RCX/R11 = the return RIP/RFLAGS, and an
        // interrupt frame whose RSP slot holds the caller's stack pointer.
        a.Label(ref kernelCall);
        a.test(eax, eax);
        a.jnz(powerOff);
        // One OUT per byte rather than REP OUTSB: KVM may report a string OUT
        // as one exit or as one per byte (kvm_pvm does the latter), a byte loop
        // exits once per byte on every kernel, so Host and Soft show the same
        // exit sequence. It costs three emulated instructions per byte on Host.
        var nextByte = a.CreateLabel("nextByte");
        a.mov(r10, rcx);
        a.mov(ecx, edi);
        a.mov(edx, Com1Port);
        a.Label(ref nextByte);
        a.lodsb();
        a.@out(dx, al);
        a.loop(nextByte);
        a.mov(rcx, r10);
        a.mov(rsp, __qword_ptr[rsp + 24]);
        a.sysretq();
        a.Label(ref powerOff);
        a.mov(edx, PowerOffPort);
        a.mov(eax, PowerOffValue);
        a.@out(dx, ax);
        a.Label(ref halt);
        a.hlt();
        a.jmp(halt);

        // One stub per exception vector: report the vector and stop.
        var stubs = new Label[32];
        var report = a.CreateLabel("report");
        for (int vector = 0; vector < stubs.Length; vector++)
        {
            stubs[vector] = a.CreateLabel();
            a.Label(ref stubs[vector]);
            a.mov(al, (byte)vector);
            a.jmp(report);
        }
        a.Label(ref report);
        a.@out((byte)PanicPort, al);
        a.jmp(halt);

        var code = AssembledCode.Assemble(a, KernelCodeAddress);
        kernelCallEntry = code.AddressOf(kernelCall);
        exceptionEntries = stubs.Select(code.AddressOf).ToArray();
        return code.Bytes;
    }

    private static Assembler AssembleUser()
    {
        var a = new Assembler(64);
        var row = a.CreateLabel("row");
        var column = a.CreateLabel("column");
        var iterate = a.CreateLabel("iterate");
        var escaped = a.CreateLabel("escaped");

        // r15 = ci, r14d = rows left, r13 = cr, r12d = columns left, rdi = output,
        // rax = zr, rbx = zi, ecx = n, r8 = zr², r9 = zi².
        a.mov(r15, Y0);
        a.mov(r14d, Rows);
        a.Label(ref row);
        a.mov(edi, (uint)LineBufferAddress);
        a.mov(r13, X0);
        a.mov(r12d, Columns);
        a.Label(ref column);
        a.xor(eax, eax);
        a.xor(ebx, ebx);
        a.xor(ecx, ecx);
        a.Label(ref iterate);
        a.mov(r8, rax);
        a.imul(r8, rax);
        a.sar(r8, FractionBits);
        a.mov(r9, rbx);
        a.imul(r9, rbx);
        a.sar(r9, FractionBits);
        a.lea(r10, r8 + r9);
        a.cmp(r10, 4 << FractionBits);
        a.jg(escaped);
        a.imul(rbx, rax);
        a.sar(rbx, FractionBits - 1);
        a.add(rbx, r15);
        a.mov(rax, r8);
        a.sub(rax, r9);
        a.add(rax, r13);
        a.inc(ecx);
        a.cmp(ecx, MaxIterations);
        a.jb(iterate);
        a.Label(ref escaped);
        a.movzx(edx, __byte_ptr[rcx + (long)PaletteAddress]);
        a.mov(__byte_ptr[rdi], dl);
        a.inc(rdi);
        a.add(r13, (int)Dx);
        a.dec(r12d);
        a.jnz(column);
        a.mov(__byte_ptr[rdi], (byte)'\n');
        a.mov(esi, (uint)LineBufferAddress);
        a.mov(edi, LineLength);
        a.mov(eax, SyscallWrite);
        a.syscall();
        a.add(r15, (int)Dy);
        a.dec(r14d);
        a.jnz(row);
        a.mov(eax, SyscallPowerOff);
        a.syscall();
        a.ud2();
        return a;
    }

    /// <summary>The character for every step count 0..MaxIterations, indexed by the count.</summary>
    private static byte[] BuildPalette()
    {
        var palette = new byte[MaxIterations + 1];
        for (int n = 0; n < MaxIterations; n++)
            palette[n] = (byte)Ramp[Math.Min(n, Ramp.Length - 1)];
        palette[MaxIterations] = (byte)Inside;
        return palette;
    }
}
