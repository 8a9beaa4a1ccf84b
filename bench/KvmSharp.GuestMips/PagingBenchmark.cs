using System.Diagnostics;
using System.Globalization;
using System.Text;
using KvmSharp.Abi;
using KvmSharp.Vmm;
using KvmSharp.Vmm.Memory;

namespace KvmSharp.GuestMips;

/// <summary>
/// Runs the paging workload on one kernel for two round counts (median of REPS each, after a warm-up run) and prints
/// `name value unit` lines, MIPS from the difference; or writes the workload's multiboot image for QEMU.
/// </summary>
internal static class PagingBenchmark
{
    public static int Run(string[] args)
    {
        static int Number(string text) => int.Parse(text, CultureInfo.InvariantCulture);
        if (args[0] == "image")
        {
            int rounds = Number(args[1]), pages = Number(args[2]);
            File.WriteAllBytes(args[3], PagingGuest.BuildMultibootImage(rounds, pages));
            Console.WriteLine($"# wrote {args[3]}: {rounds} rounds over {pages} pages");
            return 0;
        }
        string kernelName = args[0];
        int r1 = Number(args[1]), r2 = Number(args[2]), pageCount = Number(args[3]);
        int reps = args.Length > 4 ? Number(args[4]) : 3;
        PagingGuest.Validate(Math.Min(r1, r2), pageCount);
        if (r2 <= r1) throw new ArgumentException($"R2 ({r2}) must be larger than R1 ({r1}).");

        using var kvm = Kvm.Open(KernelChoice.Open(kernelName));
        var cpuid = kvm.GetSupportedCpuid();

        double RunOnce(int rounds)
        {
            using var ram = new GuestRam(PagingGuest.MemoryBytes);
            PagingGuest.Load(ram.Span, pageCount);
            using var vm = kvm.CreateVm();
            vm.SetUserMemoryRegion(0, 0, ram.Size, ram.Address);
            using var vcpu = vm.CreateVcpu(0);
            vcpu.SetCpuid2(cpuid);
            PagingGuest.SetRegisters(vcpu, rounds, pageCount);
            var text = new StringBuilder();
            var clock = Stopwatch.StartNew();
            while (true)
            {
                var result = vcpu.Run();
                if (result.Reason != KvmExitReason.Io)
                    throw new InvalidOperationException($"The paging guest stopped with {result.Reason} at RIP 0x{vcpu.GetRegs().Rip:x}.");
                var io = vcpu.Io;
                if (io.Port == PagingGuest.StopPort)
                    break;
                if (io.Port == PagingGuest.OutputPort)
                    foreach (byte b in io.Data)
                        text.Append((char)b);
            }
            double seconds = clock.Elapsed.TotalSeconds;
            if (text.ToString().Trim() != PagingGuest.SuccessText)
                throw new InvalidOperationException($"The paging guest's check failed after {rounds} rounds (it printed '{text}').");
            return seconds;
        }

        RunOnce(1); // JIT warm-up.
        static double Median(List<double> values) { values.Sort(); return values[values.Count / 2]; }
        var t1 = new List<double>();
        var t2 = new List<double>();
        for (int i = 0; i < reps; i++)
        {
            t1.Add(RunOnce(r1));
            t2.Add(RunOnce(r2));
        }
        double mips = (r2 - r1) * PagingGuest.InstructionsPerRound(pageCount) / (Median(t2) - Median(t1)) / 1e6;
        Console.WriteLine($"# paging workload, kernel {kvm.Kernel.Name}, {pageCount} pages, R {r1} and {r2}, reps {reps}");
        Console.WriteLine($"time_r{r1} {Median(t1) * 1000:F1} ms");
        Console.WriteLine($"time_r{r2} {Median(t2) * 1000:F1} ms");
        Console.WriteLine($"mips {mips:F1} MIPS");
        return 0;
    }
}
