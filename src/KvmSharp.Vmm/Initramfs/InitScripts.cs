namespace KvmSharp.Vmm.Initramfs;

/// <summary>Ready-made /init scripts for a busybox initramfs.</summary>
public static class InitScripts
{
    /// <summary>
    /// Mounts /proc, /sys and devtmpfs, loads the modules the builder added (if
    /// any), and runs a shell on the console with job control; leaving the shell
    /// powers the guest off.
    /// </summary>
    public const string InteractiveShell = """
        #!/bin/sh
        mount -t proc proc /proc
        mount -t sysfs sysfs /sys
        mount -t devtmpfs devtmpfs /dev 2>/dev/null
        [ -x /sbin/load-modules ] && /sbin/load-modules
        echo "KvmSharp initramfs on $(uname -r) with $(nproc) CPU(s); leave the shell to power off."
        setsid cttyhack sh
        sync
        poweroff -f

        """;
}
