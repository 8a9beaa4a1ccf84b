using System.Text;

namespace KvmSharp.Vmm.Initramfs;

/// <summary>
/// Writes a cpio archive in the "newc" format the kernel unpacks as an
/// initramfs (Documentation/driver-api/early-userspace/buffer-format.rst):
/// per entry a 110-byte ASCII header of hex fields, the NUL-terminated name and
/// the data, each padded to 4 bytes; the archive ends with "TRAILER!!!".
/// </summary>
public sealed class CpioNewcWriter
{
    public const uint TypeMask = 0xF000;
    public const uint Directory = 0x4000;
    public const uint RegularFile = 0x8000;
    public const uint Symlink = 0xA000;
    public const uint CharacterDevice = 0x2000;
    public const uint BlockDevice = 0x6000;

    public const string Trailer = "TRAILER!!!";
    private const int HeaderSize = 110;

    private readonly Stream _output;
    private readonly HashSet<string> _names = new(StringComparer.Ordinal);
    private uint _nextInode = 1;
    private bool _finished;

    /// <param name="output">Receives the archive.</param>
    /// <param name="modificationTime">The mtime of every entry (seconds since 1970); fixed so that archives are reproducible.</param>
    public CpioNewcWriter(Stream output, uint modificationTime = 0)
    {
        _output = output;
        ModificationTime = modificationTime;
    }

    public uint ModificationTime { get; }

    public void AddDirectory(string path, uint permissions = 0x1ED /* 0755 */) =>
        Add(path, Directory | permissions, [], nlink: 2);

    public void AddFile(string path, ReadOnlySpan<byte> contents, uint permissions = 0x1A4 /* 0644 */) =>
        Add(path, RegularFile | permissions, contents);

    public void AddSymlink(string path, string target) =>
        Add(path, Symlink | 0x1FF, Encoding.UTF8.GetBytes(target));

    public void AddCharacterDevice(string path, uint major, uint minor, uint permissions = 0x180 /* 0600 */) =>
        Add(path, CharacterDevice | permissions, [], deviceMajor: major, deviceMinor: minor);

    public void AddBlockDevice(string path, uint major, uint minor, uint permissions = 0x180) =>
        Add(path, BlockDevice | permissions, [], deviceMajor: major, deviceMinor: minor);

    /// <summary>Writes the trailer; the archive is complete after this.</summary>
    public void Finish()
    {
        if (_finished)
            return;
        WriteEntry(Trailer, 0, 0, [], 1, 0, 0);
        _finished = true;
    }

    /// <summary>The name an entry gets: relative ("bin/sh"), '/'-separated, no "." or ".." parts.</summary>
    public static string NormalizePath(string path)
    {
        string trimmed = path.Replace('\\', '/').Trim('/');
        if (trimmed.Length == 0)
            throw new ArgumentException("An archive entry needs a name; \"/\" itself is implied.", nameof(path));
        var parts = trimmed.Split('/', StringSplitOptions.RemoveEmptyEntries);
        if (parts.Any(p => p is "." or ".."))
            throw new ArgumentException($"The archive path \"{path}\" contains \".\" or \"..\".", nameof(path));
        if (trimmed.Contains('\0'))
            throw new ArgumentException("An archive path cannot contain NUL.", nameof(path));
        return string.Join('/', parts);
    }

    private void Add(string path, uint mode, ReadOnlySpan<byte> data, uint nlink = 1, uint deviceMajor = 0, uint deviceMinor = 0)
    {
        if (_finished)
            throw new InvalidOperationException("The archive is finished; nothing can follow its trailer.");
        string name = NormalizePath(path);
        if (name == Trailer)
            throw new ArgumentException($"\"{Trailer}\" is reserved for the archive's end.", nameof(path));
        if (!_names.Add(name))
            throw new ArgumentException($"The archive already holds \"{name}\".", nameof(path));
        WriteEntry(name, mode, _nextInode++, data, nlink, deviceMajor, deviceMinor);
    }

    private void WriteEntry(string name, uint mode, uint inode, ReadOnlySpan<byte> data, uint nlink, uint deviceMajor, uint deviceMinor)
    {
        byte[] nameBytes = Encoding.UTF8.GetBytes(name + "\0");
        uint time = name == Trailer ? 0 : ModificationTime;
        var header = new StringBuilder("070701", HeaderSize);
        // ino, mode, uid, gid, nlink, mtime, filesize, devmajor, devminor, rdevmajor, rdevminor, namesize, check
        foreach (uint field in new[] { inode, mode, 0u, 0u, nlink, time, (uint)data.Length, 0u, 0u, deviceMajor, deviceMinor, (uint)nameBytes.Length, 0u })
            header.Append(field.ToString("X8"));
        _output.Write(Encoding.ASCII.GetBytes(header.ToString()));
        _output.Write(nameBytes);
        Pad(HeaderSize + nameBytes.Length);
        _output.Write(data);
        Pad(data.Length);
    }

    private void Pad(int written)
    {
        int padding = (4 - written % 4) % 4;
        Span<byte> zeros = stackalloc byte[3];
        zeros.Clear();
        _output.Write(zeros[..padding]);
    }
}
