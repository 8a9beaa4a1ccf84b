namespace KvmSharp.Vmm.Devices;

/// <summary>A device that takes bytes typed on the host (a console's input side).</summary>
public interface IHostInput
{
    /// <summary>Queues bytes for the guest; callable from any thread, never blocks on the guest.</summary>
    void Receive(ReadOnlySpan<byte> bytes);
}

public static class HostInputPump
{
    /// <summary>
    /// Copies a host stream into the device until the stream ends or the token
    /// is cancelled, on a thread of its own so that a blocking read (a
    /// terminal) never holds up a vCPU.
    /// </summary>
    public static Task PumpFrom(this IHostInput device, Stream input, CancellationToken cancellation = default) =>
        Task.Factory.StartNew(async () =>
        {
            var buffer = new byte[4096];
            while (!cancellation.IsCancellationRequested)
            {
                int count = await input.ReadAsync(buffer, cancellation).ConfigureAwait(false);
                if (count == 0)
                    return;
                device.Receive(buffer.AsSpan(0, count));
            }
        }, cancellation, TaskCreationOptions.LongRunning, TaskScheduler.Default).Unwrap();
}
