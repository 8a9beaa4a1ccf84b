namespace KvmSharp.Cli.Terminal;

/// <summary>
/// The escape key of an interactive console, as QEMU has it: Ctrl-A then x
/// quits, Ctrl-A twice types one Ctrl-A, and Ctrl-A followed by anything else
/// types both keys. A Ctrl-A at the end of one read waits for the next.
/// </summary>
internal sealed class QuitKeyFilter
{
    public const byte Escape = 0x01; // Ctrl-A
    public const byte Quit = (byte)'x';

    private bool _afterEscape;

    public bool QuitRequested { get; private set; }

    /// <summary>The bytes of <paramref name="typed"/> that go to the guest, up to a quit.</summary>
    public byte[] Filter(ReadOnlySpan<byte> typed)
    {
        var forward = new List<byte>(typed.Length);
        foreach (byte key in typed)
        {
            if (QuitRequested)
                break;
            if (_afterEscape)
            {
                _afterEscape = false;
                if (key == Quit)
                {
                    QuitRequested = true;
                    break;
                }
                forward.Add(Escape);
                if (key != Escape)
                    forward.Add(key);
            }
            else if (key == Escape)
                _afterEscape = true;
            else
                forward.Add(key);
        }
        return [.. forward];
    }
}
