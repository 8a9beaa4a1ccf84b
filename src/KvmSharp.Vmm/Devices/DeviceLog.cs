namespace KvmSharp.Vmm.Devices;

/// <summary>
/// Where a device reports what the guest did wrong: the device's name and one
/// line of explanation. Called with the device's lock held; must not block long.
/// </summary>
public delegate void DeviceLog(string device, string message);

public static class DeviceLogs
{
    public static readonly DeviceLog None = (_, _) => { };

    public static DeviceLog To(TextWriter writer) => (device, message) =>
    {
        lock (writer)
            writer.WriteLine($"{device}: {message}");
    };
}
