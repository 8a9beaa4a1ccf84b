using KvmSharp.Cli.Terminal;

namespace KvmSharp.Cli.Tests;

public class QuitKeyFilterTests
{
    [Theory]
    [InlineData(new byte[] { (byte)'a', 0x01, (byte)'x', (byte)'b' }, new byte[] { (byte)'a' }, true)]
    [InlineData(new byte[] { 0x01, 0x01, (byte)'x' }, new byte[] { 0x01, (byte)'x' }, false)]  // Ctrl-A Ctrl-A types one Ctrl-A
    [InlineData(new byte[] { 0x01, (byte)'c' }, new byte[] { 0x01, (byte)'c' }, false)]        // anything else: both keys
    [InlineData(new byte[] { 0x03, (byte)'x' }, new byte[] { 0x03, (byte)'x' }, false)]        // Ctrl-C belongs to the guest
    public void CtrlAXQuitsAndEverythingElseReachesTheGuest(byte[] typed, byte[] forwarded, bool quits)
    {
        var filter = new QuitKeyFilter();
        Assert.Equal(forwarded, filter.Filter(typed));
        Assert.Equal(quits, filter.QuitRequested);
    }

    [Fact]
    public void ACtrlAAtTheEndOfOneReadWaitsForTheNext()
    {
        var filter = new QuitKeyFilter();
        Assert.Equal("ab"u8.ToArray(), filter.Filter([(byte)'a', (byte)'b', 0x01]));
        Assert.False(filter.QuitRequested);
        Assert.Empty(filter.Filter("x"u8));
        Assert.True(filter.QuitRequested);
    }
}
