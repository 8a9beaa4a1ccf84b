namespace KvmSharp.Vmm.Devices;

/// <summary>
/// A device's interrupt output, as a level: true while the device asserts it.
/// Devices call <see cref="Set"/> on every change they compute (possibly with
/// the same level again) while holding their own lock, so an implementation
/// must be cheap and must never call back into the device.
/// </summary>
public interface IInterruptLine
{
    void Set(bool asserted);
}

/// <summary>A line wired to nothing, for devices whose interrupt is not used.</summary>
public sealed class UnconnectedInterruptLine : IInterruptLine
{
    public static readonly UnconnectedInterruptLine Instance = new();

    public void Set(bool asserted) { }
}
