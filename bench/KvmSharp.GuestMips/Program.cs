using System.Diagnostics;
using System.Text;
using KvmSharp;
using KvmSharp.Abi;
using KvmSharp.GuestMips;
using KvmSharp.Vmm;
using KvmSharp.Vmm.Memory;

// Usage: KvmSharp.GuestMips PAYLOAD KERNEL [R1 R2 [WORDS [REPS]]]
// Runs the reference guest at CPL 3 for R1 and R2 rounds on one kernel and
// prints `name value unit` lines like bench/c/guestmips, MIPS from the difference.
//        KvmSharp.GuestMips --paging KERNEL R1 R2 PAGES [REPS]
// does the same with the paging workload (PagingGuest.cs), and
//        KvmSharp.GuestMips --paging image R PAGES FILE
// writes that workload as a multiboot image for QEMU.
const string usage = "usage: KvmSharp.GuestMips PAYLOAD host|soft [R1 R2 [WORDS [REPS]]]\n" +
    "       KvmSharp.GuestMips --paging host|soft R1 R2 PAGES [REPS]\n" +
    "       KvmSharp.GuestMips --paging image R PAGES FILE";
if (args.Length > 0 && args[0] == "--paging")
{
    try { return PagingBenchmark.Run(args[1..]); }
    catch (Exception e) when (e is ArgumentException or FormatException or IndexOutOfRangeException)
    {
        Console.Error.WriteLine($"error: {e.Message}\n{usage}");
        return 2;
    }
}
if (args.Length < 2)
{
    Console.Error.WriteLine(usage);
    return 2;
}
byte[] payload = File.ReadAllBytes(args[0]);
string kernelName = args[1];
int r1 = args.Length > 2 ? int.Parse(args[2]) : 1;
int r2 = args.Length > 3 ? int.Parse(args[3]) : 4;
int words = args.Length > 4 ? int.Parse(args[4]) : 524288;
int reps = args.Length > 5 ? int.Parse(args[5]) : 3;

using var kvm = Kvm.Open(KernelChoice.Open(kernelName));
var cpuid = kvm.GetSupportedCpuid();

(double Seconds, string Checksum, long Exits) RunOnce(int rounds)
{
    using var ram = new GuestRam(ReferenceGuest.MemoryBytes);
    ReferenceGuest.Load(ram.Span, payload);
    using var vm = kvm.CreateVm();
    vm.SetUserMemoryRegion(0, 0, ram.Size, ram.Address);
    using var vcpu = vm.CreateVcpu(0);
    vcpu.SetCpuid2(cpuid);
    ReferenceGuest.SetRegisters(vcpu, rounds, words);
    var text = new StringBuilder();
    long exits = 0;
    var clock = Stopwatch.StartNew();
    while (true)
    {
        var result = vcpu.Run();
        exits++;
        if (result.Reason != KvmExitReason.Io)
            throw new InvalidOperationException($"The guest stopped with {result.Reason} at RIP 0x{vcpu.GetRegs().Rip:x}.");
        var io = vcpu.Io;
        if (io.Port == ReferenceGuest.StopPort)
            break;
        if (io.Port == ReferenceGuest.OutputPort)
            foreach (byte b in io.Data)
                text.Append((char)b);
    }
    return (clock.Elapsed.TotalSeconds, text.ToString().Trim(), exits);
}

RunOnce(0); // JIT warm-up.
double Median(List<double> values) { values.Sort(); return values[values.Count / 2]; }
var t1 = new List<double>();
var t2 = new List<double>();
string c1 = "", c2 = "";
long e2 = 0;
for (int i = 0; i < reps; i++)
{
    var a = RunOnce(r1);
    var b = RunOnce(r2);
    t1.Add(a.Seconds); t2.Add(b.Seconds); c1 = a.Checksum; c2 = b.Checksum; e2 = b.Exits;
}
double mips = (ReferenceGuest.Instructions(r2, words) - ReferenceGuest.Instructions(r1, words)) / (Median(t2) - Median(t1)) / 1e6;
Console.WriteLine($"# KvmSharp.GuestMips kernel {kvm.Kernel.Name}, W {words}, R {r1} and {r2}, reps {reps}");
Console.WriteLine($"csum_r{r1} {c1}");
Console.WriteLine($"csum_r{r2} {c2}");
Console.WriteLine($"exits_r{r2} {e2}");
Console.WriteLine($"time_r{r1} {Median(t1) * 1000:F1} ms");
Console.WriteLine($"time_r{r2} {Median(t2) * 1000:F1} ms");
Console.WriteLine($"mips {mips:F1} MIPS");
return 0;
