using KvmSharp.Cli.Commands;

namespace KvmSharp.Cli.Tests;

public class SizeParserTests
{
    [Theory]
    [InlineData("4096", 4096UL)]
    [InlineData("64K", 65536UL)]
    [InlineData("512M", 512UL << 20)]
    [InlineData("512MiB", 0UL)]
    [InlineData("2G", 2UL << 30)]
    [InlineData("2g", 2UL << 30)]
    [InlineData("1Ti", 0UL)]
    public void ParsesBinarySizes(string text, ulong expected)
    {
        bool ok = SizeParser.TryParse(text, out ulong bytes, out string? error);
        if (expected == 0)
        {
            Assert.False(ok);
            Assert.Contains(text, error);
        }
        else
        {
            Assert.True(ok, error);
            Assert.Equal(expected, bytes);
        }
    }

    [Theory]
    [InlineData("")]
    [InlineData("abc")]
    [InlineData("-5M")]
    [InlineData("99999999999999999999G")]
    [InlineData("20000000000T")]
    public void RefusesWhatIsNotASize(string text)
    {
        Assert.False(SizeParser.TryParse(text, out _, out string? error));
        Assert.False(string.IsNullOrEmpty(error));
    }
}
