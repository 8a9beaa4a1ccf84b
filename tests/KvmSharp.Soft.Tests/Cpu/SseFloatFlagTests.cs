using KvmSharp.Soft.Cpu;
using static KvmSharp.Soft.Cpu.SseFloat;

namespace KvmSharp.Soft.Tests.Cpu;

/// <summary>
/// Exception flags, masked responses, DAZ/FTZ and the x86 NaN rules of <see cref="SseFloat"/>, on vectors worked out by
/// hand from the Intel SDM (vol. 1 §4.8-4.9, §11.5 and the instruction pages). The host cannot be asked for MXCSR
/// flags from .NET, so these expectations come from the rules, not from a run.
/// </summary>
public class SseFloatFlagTests
{
    private const uint AllMasked = 0x1F80;
    private const uint RoundDownMode = AllMasked | 1 << 13, RoundUpMode = AllMasked | 2 << 13, RoundTowardZeroMode = AllMasked | 3 << 13;
    private const uint UnderflowUnmasked = AllMasked & ~(FlagUnderflow << MaskShift);

    private const ulong One = 0x3FF0000000000000, Three = 0x4008000000000000, Ten = 0x4024000000000000;
    private const ulong Big = 0x7FE1CCF385EBC8A0; // 1e308
    private const ulong DoubleMax = 0x7FEFFFFFFFFFFFFF, DoubleInfinity = 0x7FF0000000000000;
    private const ulong DoubleQuietNaN = 0x7FF8000000001234, DoubleSignalingNaN = 0x7FF4000000005678;
    private const ulong SingleOne = 0x3F800000, SingleHalf = 0x3F000000, SingleMinNormal = 0x00800000;
    private const ulong SingleInfinity = 0x7F800000, SingleQuietNaN = 0x7FC01234, SingleSignalingNaN = 0x7FA05678;

    private delegate ulong Binary(ulong a, ulong b, bool isDouble, uint mxcsr, ref uint flags);

    private static (ulong Result, uint Flags) Run(Binary operation, ulong a, ulong b, bool isDouble, uint mxcsr = AllMasked)
    {
        uint flags = 0;
        ulong result = operation(a, b, isDouble, mxcsr, ref flags);
        return (result, flags);
    }

    [Fact]
    public void An_inexact_quotient_sets_only_precision()
    {
        Assert.Equal((0x3FD5555555555555UL, FlagPrecision), Run(Divide, One, Three, true));
        Assert.Equal((0x3FF8000000000000UL, 0u), Run(Divide, Three, 0x4000000000000000, true));
    }

    [Theory]
    [InlineData(AllMasked, false, DoubleInfinity)]
    [InlineData(RoundTowardZeroMode, false, DoubleMax)]
    [InlineData(RoundDownMode, false, DoubleMax)]
    [InlineData(RoundUpMode, false, DoubleInfinity)]
    [InlineData(AllMasked, true, DoubleInfinity | 1UL << 63)]
    [InlineData(RoundTowardZeroMode, true, DoubleMax | 1UL << 63)]
    [InlineData(RoundDownMode, true, DoubleInfinity | 1UL << 63)]
    [InlineData(RoundUpMode, true, DoubleMax | 1UL << 63)]
    public void Masked_overflow_gives_infinity_or_the_largest_finite_by_rounding_direction(uint mxcsr, bool negative, ulong expected)
    {
        ulong big = negative ? Big | 1UL << 63 : Big;
        Assert.Equal((expected, FlagOverflow | FlagPrecision), Run(Multiply, big, Ten, true, mxcsr));
    }

    [Fact]
    public void An_exact_denormal_result_is_not_an_underflow_unless_ftz_or_unmasked()
    {
        // FLT_MIN × 0.5 = 2^-127 is exactly representable as a denormal.
        Assert.Equal((0x00400000UL, 0u), Run(Multiply, SingleMinNormal, SingleHalf, false));
        Assert.Equal((0UL, FlagUnderflow | FlagPrecision), Run(Multiply, SingleMinNormal, SingleHalf, false, AllMasked | FlushToZero));
        Assert.Equal(FlagUnderflow, Run(Multiply, SingleMinNormal, SingleHalf, false, UnderflowUnmasked).Flags);
        // FTZ keeps the sign of the true result.
        Assert.Equal((0x80000000UL, FlagUnderflow | FlagPrecision),
            Run(Multiply, SingleMinNormal | 0x80000000, SingleHalf, false, AllMasked | FlushToZero));
    }

    [Fact]
    public void An_inexact_tiny_result_sets_underflow_and_precision()
    {
        // FLT_MIN × (1 + 2^-23) × 0.5 needs 24 bits where a denormal at 2^-127 keeps 22: rounds to even.
        Assert.Equal((0x00400000UL, FlagUnderflow | FlagPrecision), Run(Multiply, 0x00800001, SingleHalf, false));
        Assert.Equal((0x00400001UL, FlagUnderflow | FlagPrecision), Run(Multiply, 0x00800001, SingleHalf, false, RoundUpMode));
    }

    [Fact]
    public void Tininess_is_detected_after_rounding()
    {
        // (1 + 2^-23) × (2^-126 × (1 - 2^-23)) = 2^-126 × (1 - 2^-46): rounded to 24 bits with an unbounded exponent it
        // is 2^-126, not tiny, so no underflow; the denormal operand is reported.
        Assert.Equal((SingleMinNormal, FlagDenormal | FlagPrecision), Run(Multiply, 0x3F800001, 0x007FFFFF, false));
        // (1 - 2^-24) × 2^-126 = 2^-126 - 2^-150 is exact at 24 bits with an unbounded exponent, hence tiny; as a denormal
        // it is a tie that rounds to even, up to the smallest normal: underflow with a normal-looking result.
        Assert.Equal((SingleMinNormal, FlagUnderflow | FlagPrecision), Run(Multiply, 0x3F7FFFFF, SingleMinNormal, false));
    }

    [Fact]
    public void Denormals_are_zero_reads_denormal_inputs_as_signed_zeros_without_denormal_flag()
    {
        const ulong denormal = 0x000000000000ABCD;
        Assert.Equal((denormal, FlagDenormal), Run(Add, denormal, 0, true));
        Assert.Equal((0UL, 0u), Run(Add, denormal, 0, true, AllMasked | DenormalsAreZero));
        Assert.Equal((1UL << 63, 0u), Run(Add, denormal | 1UL << 63, 1UL << 63, true, AllMasked | DenormalsAreZero));
        // A denormal divisor read as zero makes a division by zero.
        Assert.Equal((DoubleInfinity, FlagDivideByZero), Run(Divide, One, denormal, true, AllMasked | DenormalsAreZero));
    }

    [Fact]
    public void Invalid_operations_give_the_default_nan()
    {
        Assert.Equal((SingleDefaultNaN, FlagInvalid), Run(Add, SingleInfinity, SingleInfinity | 0x80000000, false));
        Assert.Equal((SingleDefaultNaN, FlagInvalid), Run(Subtract, SingleInfinity, SingleInfinity, false));
        Assert.Equal((DoubleDefaultNaN, FlagInvalid), Run(Multiply, 0, DoubleInfinity, true));
        Assert.Equal((DoubleDefaultNaN, FlagInvalid), Run(Divide, 0, 1UL << 63, true));
        Assert.Equal((DoubleDefaultNaN, FlagInvalid), Run(Divide, DoubleInfinity, DoubleInfinity, true));
        uint flags = 0;
        Assert.Equal(SingleDefaultNaN, SquareRoot(0xBF800000, false, AllMasked, ref flags));
        Assert.Equal(FlagInvalid, flags);
        flags = 0;
        Assert.Equal(0x80000000UL, SquareRoot(0x80000000, false, AllMasked, ref flags));
        Assert.Equal(0u, flags);
    }

    [Fact]
    public void Division_of_a_finite_non_zero_value_by_zero_sets_divide_by_zero()
    {
        Assert.Equal((DoubleInfinity, FlagDivideByZero), Run(Divide, One, 0, true));
        Assert.Equal((DoubleInfinity | 1UL << 63, FlagDivideByZero), Run(Divide, One, 1UL << 63, true));
        Assert.Equal((DoubleInfinity, 0u), Run(Divide, DoubleInfinity, 0, true));
    }

    [Fact]
    public void Nan_operands_propagate_first_operand_first_and_are_quietened()
    {
        Assert.Equal((DoubleSignalingNaN | 0x0008000000000000, FlagInvalid), Run(Add, DoubleSignalingNaN, One, true));
        Assert.Equal((DoubleSignalingNaN | 0x0008000000000000, FlagInvalid), Run(Add, One, DoubleSignalingNaN, true));
        Assert.Equal((DoubleQuietNaN, FlagInvalid), Run(Multiply, DoubleQuietNaN, DoubleSignalingNaN, true));
        Assert.Equal((DoubleSignalingNaN | 0x0008000000000000, FlagInvalid), Run(Divide, DoubleSignalingNaN, DoubleQuietNaN, true));
        Assert.Equal((SingleQuietNaN | 0x80000000, 0u), Run(Subtract, SingleQuietNaN | 0x80000000, SingleQuietNaN, false));
        // A quiet NaN with a zero or infinity is no invalid operation.
        Assert.Equal((SingleQuietNaN, 0u), Run(Multiply, SingleQuietNaN, SingleInfinity, false));
    }

    [Fact]
    public void Min_and_max_return_the_second_operand_for_nans_and_zeros_without_quietening()
    {
        Assert.Equal((SingleOne, FlagInvalid), Run(Minimum, SingleQuietNaN, SingleOne, false));
        Assert.Equal((SingleQuietNaN, FlagInvalid), Run(Minimum, SingleOne, SingleQuietNaN, false));
        Assert.Equal((SingleSignalingNaN, FlagInvalid), Run(Maximum, SingleOne, SingleSignalingNaN, false));
        Assert.Equal((0x80000000UL, 0u), Run(Minimum, 0, 0x80000000, false));
        Assert.Equal((0UL, 0u), Run(Maximum, 0x80000000, 0, false));
        Assert.Equal((One, FlagDenormal), Run(Maximum, 1, One, true));
    }

    [Fact]
    public void Comparisons_signal_quiet_nans_only_for_the_ordering_predicates()
    {
        uint flags = 0;
        Assert.Equal(Ordering.Unordered, Compare(SingleQuietNaN, SingleOne, false, AllMasked, signalOnQuietNaN: false, ref flags));
        Assert.Equal(0u, flags);
        Assert.Equal(Ordering.Unordered, Compare(SingleQuietNaN, SingleOne, false, AllMasked, signalOnQuietNaN: true, ref flags));
        Assert.Equal(FlagInvalid, flags);
        flags = 0;
        Compare(SingleOne, SingleSignalingNaN, false, AllMasked, signalOnQuietNaN: false, ref flags);
        Assert.Equal(FlagInvalid, flags);
        for (int predicate = 0; predicate < 8; predicate++)
        {
            flags = 0;
            ComparePredicate(DoubleQuietNaN, One, true, predicate, AllMasked, ref flags);
            Assert.Equal(predicate is 1 or 2 or 5 or 6 ? FlagInvalid : 0u, flags);
        }
        flags = 0;
        Assert.Equal(Ordering.Less, Compare(1, One, true, AllMasked, signalOnQuietNaN: true, ref flags));
        Assert.Equal(FlagDenormal, flags);
        flags = 0;
        Assert.Equal(Ordering.Equal, Compare(1, 0, true, AllMasked | DenormalsAreZero, signalOnQuietNaN: true, ref flags));
        Assert.Equal(0u, flags);
    }

    [Theory]
    [InlineData(0x4004000000000000UL, false, AllMasked, 2UL, FlagPrecision)]                  // 2.5 → 2 (to even)
    [InlineData(0x4004000000000000UL, false, RoundUpMode, 3UL, FlagPrecision)]
    [InlineData(0xC004000000000000UL, false, RoundDownMode, 0xFFFFFFFDUL, FlagPrecision)]    // -2.5 → -3
    [InlineData(0xC1E0000000000000UL, false, AllMasked, 0x80000000UL, 0u)]                   // -2^31 fits
    [InlineData(0x41E0000000000000UL, false, AllMasked, 0x80000000UL, FlagInvalid)]          // 2^31 does not
    [InlineData(0xC1E0000000100000UL, false, AllMasked, 0x80000000UL, FlagPrecision)]        // -2^31 - 0.5 → -2^31 (even)
    [InlineData(0xC1E0000000200000UL, false, AllMasked, 0x80000000UL, FlagInvalid)]          // -2^31 - 1
    [InlineData(0x7FF8000000000000UL, false, AllMasked, 0x80000000UL, FlagInvalid)]
    [InlineData(0xFFF0000000000000UL, true, AllMasked, 0x8000000000000000UL, FlagInvalid)]
    [InlineData(0x0000000000000001UL, false, RoundUpMode, 1UL, FlagPrecision)]               // denormal, no DE
    [InlineData(0x0000000000000001UL, false, RoundUpMode | DenormalsAreZero, 0UL, 0u)]
    public void Float_to_integer_conversions_follow_rounding_control_and_signal_indefinite(ulong source, bool to64, uint mxcsr, ulong expected, uint expectedFlags)
    {
        uint flags = 0;
        Assert.Equal(expected, ToInteger(source, isDouble: true, to64, truncate: false, mxcsr, ref flags));
        Assert.Equal(expectedFlags, flags);
    }

    [Fact]
    public void Truncating_conversions_ignore_rounding_control()
    {
        uint flags = 0;
        Assert.Equal(0xFFFFFFFEUL, ToInteger(0xC004000000000000, isDouble: true, to64: false, truncate: true, RoundDownMode, ref flags));
        Assert.Equal(FlagPrecision, flags);
    }

    [Fact]
    public void Integer_and_float_conversions_set_precision_and_quieten_signalling_nans()
    {
        uint flags = 0;
        Assert.Equal(0x4B800000UL, FromInteger(16777217, toDouble: false, AllMasked, ref flags)); // 2^24
        Assert.Equal(FlagPrecision, flags);
        flags = 0;
        Assert.Equal(0x4B800001UL, FromInteger(16777217, toDouble: false, RoundUpMode, ref flags));
        flags = 0;
        Assert.Equal(0x41E0000000000000UL, FromInteger(int.MinValue, toDouble: true, AllMasked, ref flags) ^ 1UL << 63);
        Assert.Equal(0u, flags);

        Assert.Equal(0x7FE00000UL, ConvertFloat(DoubleSignalingNaN, toDouble: false, AllMasked, ref flags));
        Assert.Equal(FlagInvalid, flags);
        flags = 0;
        Assert.Equal(0x7FFC0ACF00000000UL, ConvertFloat(0x7FA05678, toDouble: true, AllMasked, ref flags));
        Assert.Equal(FlagInvalid, flags);
        flags = 0;
        Assert.Equal(0x3800000000000000UL, ConvertFloat(0x00400000, toDouble: true, AllMasked, ref flags)); // 2^-127
        Assert.Equal(FlagDenormal, flags);
        flags = 0;
        Assert.Equal(SingleInfinity, ConvertFloat(Big, toDouble: false, AllMasked, ref flags));
        Assert.Equal(FlagOverflow | FlagPrecision, flags);
    }

    [Fact]
    public void Flags_accumulate_into_the_callers_word()
    {
        uint flags = FlagDivideByZero;
        Divide(One, Three, true, AllMasked, ref flags);
        Assert.Equal(FlagDivideByZero | FlagPrecision, flags);
    }
}
