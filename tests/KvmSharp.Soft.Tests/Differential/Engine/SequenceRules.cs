using Iced.Intel;

namespace KvmSharp.Soft.Tests.Differential;

/// <summary>What a sequence must respect for Host and Soft to be comparable at all.</summary>
public static class SequenceRules
{
    /// <summary>
    /// The PUSHF image carries kvm_pvm's native IF and IOPL (see <see cref="DifferentialRunner.KvmPvmHiddenFlags"/>),
    /// so every PUSHF is followed by an AND that clears them in memory: <c>and [rsp], ~0x3200</c>.
    /// </summary>
    public static byte[] PushfImageMask(int bitness) => bitness switch
    {
        64 => [0x48, 0x81, 0x24, 0x24, 0xFF, 0xCD, 0xFF, 0xFF],
        32 => [0x81, 0x24, 0x24, 0xFF, 0xCD, 0xFF, 0xFF],
        // 16-bit addressing has no [sp]: and word [esp], 0xcdff (ESP's upper half stays 0, nothing writes it).
        _ => [0x67, 0x81, 0x24, 0x24, 0xFF, 0xCD],
    };

    /// <summary>
    /// No instruction reads a flag an earlier one left undefined; every PUSHF is masked; every POPF pops an
    /// immediate pushed just before it (so TF, AC and DF come only from the generator; AC only in 64-bit mode; in 16-bit code both are 16-bit), and a POPF that sets
    /// TF is not followed by PUSHF, whose single-step trap would come before the mask. The minimizer may only
    /// shrink a case into another comparable case.
    /// </summary>
    public static bool IsComparable(TestCase test)
    {
        var steps = FlagAnalysis.Analyze(test.Code, test.Bitness);
        for (int i = 0; i < steps.Count; i++)
        {
            if (steps[i].ReadsUndefined) return false;
            var mnemonic = steps[i].Instruction.Mnemonic;
            if (mnemonic is Mnemonic.Popf or Mnemonic.Popfd or Mnemonic.Popfq)
            {
                if (i == 0) return false;
                var push = steps[i - 1].Instruction;
                if (push.Mnemonic != Mnemonic.Push || push.OpCount != 1 || push.GetOpKind(0) == OpKind.Register || push.GetOpKind(0) == OpKind.Memory)
                    return false;
                // KVM's instruction emulator, which runs 32-bit user code under kvm_pvm, never raises #AC.
                if (test.Bitness != 64 && (push.GetImmediate(0) & 0x4_0000) != 0) return false;
                bool trap = (push.GetImmediate(0) & 0x100) != 0;
                if (trap && i + 1 < steps.Count && steps[i + 1].Instruction.Mnemonic is Mnemonic.Pushf or Mnemonic.Pushfd or Mnemonic.Pushfq)
                    return false;
            }
            if (mnemonic is Mnemonic.Pushf or Mnemonic.Pushfd or Mnemonic.Pushfq)
            {
                if (i + 1 >= steps.Count) return false;
                var next = steps[i + 1].Instruction;
                if (next.Mnemonic != Mnemonic.And || next.GetOpKind(0) != OpKind.Memory || next.MemoryBase.GetFullRegister() != Register.RSP)
                    return false;
            }
        }
        return true;
    }
}
