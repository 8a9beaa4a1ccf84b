using Iced.Intel;

namespace KvmSharp.Soft.Tests.Differential;

/// <summary>What a sequence must respect for Host and Soft to be comparable at all.</summary>
public static class SequenceRules
{
    /// <summary>
    /// The PUSHF image carries kvm_pvm's native IF and IOPL (see <see cref="DifferentialRunner.KvmPvmHiddenFlags"/>),
    /// so every PUSHF is followed by an AND that clears them in memory: <c>and [rsp], ~0x3200</c>.
    /// </summary>
    public static byte[] PushfImageMask(int bitness) => bitness == 64
        ? [0x48, 0x81, 0x24, 0x24, 0xFF, 0xCD, 0xFF, 0xFF]
        : [0x81, 0x24, 0x24, 0xFF, 0xCD, 0xFF, 0xFF];

    /// <summary>
    /// No instruction reads a flag an earlier one left undefined, and every PUSHF is masked; the minimizer
    /// may only shrink a case into another comparable case.
    /// </summary>
    public static bool IsComparable(TestCase test)
    {
        var steps = FlagAnalysis.Analyze(test.Code, test.Bitness);
        for (int i = 0; i < steps.Count; i++)
        {
            if (steps[i].ReadsUndefined) return false;
            if (steps[i].Instruction.Mnemonic is Mnemonic.Pushf or Mnemonic.Pushfd or Mnemonic.Pushfq)
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
