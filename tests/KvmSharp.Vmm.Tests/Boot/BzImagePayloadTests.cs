using System.IO.Compression;
using KvmSharp.Vmm.Boot;

namespace KvmSharp.Vmm.Tests.Boot;

public class BzImagePayloadTests
{
    private static byte[] Vmlinux() => new SyntheticElf { Entry = 0x100_0000, PvhEntry = 0x100_0000, Segments = { (0x100_0000, 0x100_0000, new byte[5000], 0x2000) } }.Build();

    private static byte[] Gzip(byte[] data)
    {
        using var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.Optimal, leaveOpen: true))
            gzip.Write(data);
        // The kernel's build appends the uncompressed size.
        output.Write(BitConverter.GetBytes((uint)data.Length));
        return output.ToArray();
    }

    [Fact]
    public void GzipPayloadUnpacksToTheVmlinux()
    {
        byte[] vmlinux = Vmlinux();
        var image = new SyntheticBzImage { Payload = Gzip(vmlinux) }.Build();
        Assert.Equal(vmlinux, BzImagePayload.ExtractVmlinux(image));
    }

    [Fact]
    public void UnknownCompressionIsNamed()
    {
        var image = new SyntheticBzImage { Payload = [0xFD, (byte)'7', (byte)'z', (byte)'X', (byte)'Z', 0, 0, 0, 0, 0] }.Build();
        var error = Assert.Throws<BootImageException>(() => BzImagePayload.ExtractVmlinux(image));
        Assert.Contains("gzip and LZ4", error.Message);
    }

    [Fact]
    public void CorruptGzipIsABootImageException()
    {
        var payload = Gzip(Vmlinux());
        payload[20] ^= 0xFF;
        payload[21] ^= 0xFF;
        Assert.Throws<BootImageException>(() => BzImagePayload.ExtractVmlinux(new SyntheticBzImage { Payload = payload }.Build()));
    }
}
