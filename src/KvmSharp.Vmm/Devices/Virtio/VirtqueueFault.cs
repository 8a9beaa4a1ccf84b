namespace KvmSharp.Vmm.Devices.Virtio;

/// <summary>
/// The guest handed the device something no correct driver would: the device
/// goes to DEVICE_NEEDS_RESET with this message as the reason. Never leaves
/// the transport.
/// </summary>
public sealed class VirtqueueFault(string message) : Exception(message);
