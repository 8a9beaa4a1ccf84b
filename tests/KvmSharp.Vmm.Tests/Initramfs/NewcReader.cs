using System.Globalization;
using System.Text;

namespace KvmSharp.Vmm.Tests.Initramfs;

/// <summary>One entry of a newc archive, as read back by <see cref="NewcReader"/>.</summary>
internal sealed record NewcEntry(string Name, uint Mode, uint Nlink, uint RdevMajor, uint RdevMinor, byte[] Data);

/// <summary>Reads a cpio newc archive independently of the writer, checking magic, alignment and the trailer.</summary>
internal static class NewcReader
{
    public static List<NewcEntry> Read(byte[] archive)
    {
        var entries = new List<NewcEntry>();
        int position = 0;
        while (true)
        {
            Assert.True(position % 4 == 0, $"entry at {position} is not 4-byte aligned");
            Assert.Equal("070701", Encoding.ASCII.GetString(archive, position, 6));
            uint Field(int index) => uint.Parse(Encoding.ASCII.GetString(archive, position + 6 + 8 * index, 8), NumberStyles.HexNumber);
            uint mode = Field(1), nlink = Field(4), size = Field(6), rdevMajor = Field(9), rdevMinor = Field(10), nameSize = Field(11);
            Assert.Equal(0u, Field(12));
            string name = Encoding.ASCII.GetString(archive, position + 110, (int)nameSize - 1);
            Assert.Equal(0, archive[position + 110 + nameSize - 1]);
            int dataStart = (position + 110 + (int)nameSize + 3) & ~3;
            if (name == "TRAILER!!!")
            {
                Assert.Equal(archive.Length, (dataStart + 3) & ~3);
                return entries;
            }
            entries.Add(new NewcEntry(name, mode, nlink, rdevMajor, rdevMinor, archive.AsSpan(dataStart, (int)size).ToArray()));
            position = (dataStart + (int)size + 3) & ~3;
        }
    }
}
