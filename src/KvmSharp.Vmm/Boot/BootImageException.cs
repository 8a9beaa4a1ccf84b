namespace KvmSharp.Vmm.Boot;

/// <summary>
/// A kernel image, initrd or boot option that cannot be booted; the message
/// names the file part or value at fault so that a user can act on it.
/// </summary>
public sealed class BootImageException(string message) : Exception(message);
