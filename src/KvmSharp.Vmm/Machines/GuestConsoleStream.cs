using System.Threading.Channels;

namespace KvmSharp.Vmm.Machines;

/// <summary>
/// A machine's console seen from the host as one duplex stream: reading returns
/// what the guest wrote to its consoles (and end of stream once the machine has
/// stopped and everything was read); writing types into the console the guest
/// reads from. Output waits here until read, up to <see cref="BufferLimit"/>
/// bytes; past that the newest output is dropped and counted, so a guest that
/// prints forever to a host that never reads cannot exhaust the host's memory.
/// </summary>
public sealed class GuestConsoleStream : Stream
{
    public const long BufferLimit = 16L << 20;

    private readonly Channel<byte[]> _output = Channel.CreateUnbounded<byte[]>(new UnboundedChannelOptions { SingleReader = false, SingleWriter = false });
    private readonly Action<ReadOnlySpan<byte>> _typeIntoGuest;
    private readonly Lock _readLock = new();
    private byte[] _current = [];
    private int _currentOffset;
    private long _buffered;
    private long _dropped;

    internal GuestConsoleStream(Action<ReadOnlySpan<byte>> typeIntoGuest)
    {
        _typeIntoGuest = typeIntoGuest;
        GuestSide = new GuestOutputSink(this);
    }

    /// <summary>The stream the machine's console devices write the guest's output to.</summary>
    internal Stream GuestSide { get; }

    /// <summary>Output bytes lost because more than <see cref="BufferLimit"/> were waiting to be read.</summary>
    public long DroppedBytes => Interlocked.Read(ref _dropped);

    public override bool CanRead => true;
    public override bool CanWrite => true;
    public override bool CanSeek => false;
    public override long Length => throw new NotSupportedException("A console has no length.");
    public override long Position
    {
        get => throw new NotSupportedException("A console has no position.");
        set => throw new NotSupportedException("A console has no position.");
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        if (buffer.IsEmpty)
            return 0;
        while (true)
        {
            lock (_readLock)
            {
                if (TakeCurrent(buffer) is int taken and > 0)
                    return taken;
                if (_output.Reader.TryRead(out var next))
                {
                    Interlocked.Add(ref _buffered, -next.Length);
                    (_current, _currentOffset) = (next, 0);
                    continue;
                }
            }
            if (!_output.Reader.WaitToReadAsync().AsTask().GetAwaiter().GetResult())
                return 0;
        }
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (buffer.IsEmpty)
            return 0;
        while (true)
        {
            lock (_readLock)
            {
                if (TakeCurrent(buffer.Span) is int taken and > 0)
                    return taken;
                if (_output.Reader.TryRead(out var next))
                {
                    Interlocked.Add(ref _buffered, -next.Length);
                    (_current, _currentOffset) = (next, 0);
                    continue;
                }
            }
            if (!await _output.Reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
                return 0;
        }
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    private int TakeCurrent(Span<byte> buffer)
    {
        int count = Math.Min(buffer.Length, _current.Length - _currentOffset);
        _current.AsSpan(_currentOffset, count).CopyTo(buffer);
        _currentOffset += count;
        return count;
    }

    /// <summary>Types bytes into the guest's console (they queue until the guest reads them).</summary>
    public override void Write(ReadOnlySpan<byte> buffer) => _typeIntoGuest(buffer);

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Flush() { }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException("A console cannot seek.");

    public override void SetLength(long value) => throw new NotSupportedException("A console has no length.");

    /// <summary>The machine stopped: readers get end of stream once they have read what is left.</summary>
    internal void Complete() => _output.Writer.TryComplete();

    private void Append(ReadOnlySpan<byte> bytes)
    {
        if (Interlocked.Add(ref _buffered, bytes.Length) > BufferLimit)
        {
            Interlocked.Add(ref _buffered, -bytes.Length);
            Interlocked.Add(ref _dropped, bytes.Length);
            return;
        }
        if (!_output.Writer.TryWrite(bytes.ToArray()))
            Interlocked.Add(ref _buffered, -bytes.Length);
    }

    /// <summary>The write-only end the devices hold.</summary>
    private sealed class GuestOutputSink(GuestConsoleStream console) : Stream
    {
        public override bool CanRead => false;
        public override bool CanWrite => true;
        public override bool CanSeek => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Write(ReadOnlySpan<byte> buffer) => console.Append(buffer);
        public override void Write(byte[] buffer, int offset, int count) => console.Append(buffer.AsSpan(offset, count));
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
    }
}
