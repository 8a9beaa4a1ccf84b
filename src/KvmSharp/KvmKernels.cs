using KvmSharp.Kernel;

namespace KvmSharp;

/// <summary>Chooses a kernel by name: "host", "soft", or "auto" (host where /dev/kvm opens, else soft).</summary>
public static class KvmKernels
{
    private static Func<IKvmKernel>? s_softFactory;

    /// <summary>Registered by the Soft kernel's assembly so this one need not reference it.</summary>
    public static void RegisterSoft(Func<IKvmKernel> factory) => s_softFactory = factory;

    public static bool SoftAvailable => s_softFactory is not null;

    public static IKvmKernel Create(string name) => name switch
    {
        "host" => new HostKernel(),
        "soft" => s_softFactory?.Invoke() ?? throw new NotSupportedException("The soft kernel is not available yet."),
        "auto" => new HostKernel() is { } host && host.IsAvailable() ? host
            : s_softFactory?.Invoke() ?? throw new NotSupportedException($"{new HostKernel().DevicePath} cannot be opened and the soft kernel is not available yet."),
        _ => throw new ArgumentException($"Unknown kernel '{name}': use host, soft or auto.", nameof(name)),
    };
}
