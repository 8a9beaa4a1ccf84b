namespace KvmSharp.Vmm.Devices;

/// <summary>
/// Passes a device's level to the interrupt controller only when it changes
/// (devices report the level after every register access), for example to
/// KVM_IRQ_LINE on a GSI.
/// </summary>
public sealed class ChangeOnlyInterruptLine(Action<bool> setLevel) : IInterruptLine
{
    private readonly object _lock = new();
    private bool _level;

    public bool Level
    {
        get { lock (_lock) return _level; }
    }

    public void Set(bool asserted)
    {
        lock (_lock)
        {
            if (asserted == _level)
                return;
            _level = asserted;
            setLevel(asserted);
        }
    }
}
