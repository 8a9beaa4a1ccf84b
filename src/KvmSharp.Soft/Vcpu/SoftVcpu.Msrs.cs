using KvmSharp.Abi;
using KvmSharp.Soft.Cpu;
using KvmSharp.Soft.Handles;
using KvmSharp.Soft.Model;

namespace KvmSharp.Soft.Vcpu;

// KVM_GET/SET_MSRS and the CPUID ioctls.
internal sealed unsafe partial class SoftVcpu
{
    private KvmCpuidEntry2[] _cpuid = [];
    private bool _hasRun;

    /// <summary>Entries in order until the first the vCPU does not know or refuses; returns how many were done.</summary>
    private int TransferMsrs(KvmMsrs* header, bool write)
    {
        if (!UserMemory.IsAccessible((nint)header, sizeof(KvmMsrs)))
            return -(int)Errno.EFAULT;
        uint count = header->Nmsrs;
        // KVM refuses more than MAX_IO_MSRS (256) entries in one call.
        if (count >= 256)
            return -(int)Errno.E2BIG;
        var entries = (KvmMsrEntry*)((byte*)header + sizeof(KvmMsrs));
        if (!UserMemory.IsAccessible((nint)entries, (int)count * sizeof(KvmMsrEntry)))
            return -(int)Errno.EFAULT;
        int done = 0;
        for (; done < count; done++)
        {
            ref KvmMsrEntry entry = ref entries[done];
            if (Array.IndexOf(CpuModel.SavedMsrs, entry.Index) < 0 && entry.Index != _vm.XenHypercallMsr)
                break;
            if (write ? !WriteMsrFromHost(entry.Index, entry.Data) : !Cpu.TryReadMsr(entry.Index, out entry.Data))
                break;
        }
        return done;
    }

    private bool WriteMsrFromHost(uint index, ulong value)
    {
        if (index == CpuModel.MsrEfer)
        {
            // The host may set LMA directly (it is read-only to the guest); reserved bits are refused.
            if (!IsValidEfer(value))
                return false;
            Cpu.Efer = value;
            Cpu.NotifyStateChanged();
            return true;
        }
        if (TryWriteParavirtMsr(index, value, fromGuest: false) is bool accepted)
            return accepted;
        return Cpu.TryWriteMsr(index, value);
    }

    private int SetCpuid2(KvmCpuid2* header)
    {
        if (!UserMemory.IsAccessible((nint)header, sizeof(KvmCpuid2)))
            return -(int)Errno.EFAULT;
        uint count = header->Nent;
        if (count > SoftLimits.MaxCpuidEntries)
            return -(int)Errno.E2BIG;
        var source = (KvmCpuidEntry2*)((byte*)header + sizeof(KvmCpuid2));
        if (!UserMemory.IsAccessible((nint)source, (int)count * sizeof(KvmCpuidEntry2)))
            return -(int)Errno.EFAULT;
        return ApplyCpuid(new ReadOnlySpan<KvmCpuidEntry2>(source, (int)count).ToArray());
    }

    private int SetCpuid(KvmCpuid* header)
    {
        if (!UserMemory.IsAccessible((nint)header, sizeof(KvmCpuid)))
            return -(int)Errno.EFAULT;
        uint count = header->Nent;
        if (count > SoftLimits.MaxCpuidEntries)
            return -(int)Errno.E2BIG;
        var source = (KvmCpuidEntry*)((byte*)header + sizeof(KvmCpuid));
        if (!UserMemory.IsAccessible((nint)source, (int)count * sizeof(KvmCpuidEntry)))
            return -(int)Errno.EFAULT;
        var entries = new KvmCpuidEntry2[count];
        for (int i = 0; i < count; i++)
            entries[i] = new KvmCpuidEntry2 { Function = source[i].Function, Eax = source[i].Eax, Ebx = source[i].Ebx, Ecx = source[i].Ecx, Edx = source[i].Edx };
        return ApplyCpuid(entries);
    }

    private int ApplyCpuid(KvmCpuidEntry2[] entries)
    {
        // Since Linux 5.16 the CPUID of a vCPU that has run may only be set again unchanged.
        if (_hasRun && !SameCpuid(entries, _cpuid))
            return -(int)Errno.EINVAL;
        _cpuid = entries;
        Cpu.Cpuid = entries.Select(e => new CpuidEntry
        {
            Function = e.Function,
            Index = e.Index,
            IndexSignificant = (e.Flags & KvmConstants.KVM_CPUID_FLAG_SIGNIFCANT_INDEX) != 0,
            Eax = e.Eax, Ebx = e.Ebx, Ecx = e.Ecx, Edx = e.Edx,
        }).ToArray();
        return 0;
    }

    private static bool SameCpuid(KvmCpuidEntry2[] a, KvmCpuidEntry2[] b)
    {
        if (a.Length != b.Length)
            return false;
        for (int i = 0; i < a.Length; i++)
        {
            if (a[i].Function != b[i].Function || a[i].Index != b[i].Index || a[i].Flags != b[i].Flags
                || a[i].Eax != b[i].Eax || a[i].Ebx != b[i].Ebx || a[i].Ecx != b[i].Ecx || a[i].Edx != b[i].Edx)
                return false;
        }
        return true;
    }

    private int GetCpuid2(KvmCpuid2* header)
    {
        if (!UserMemory.IsAccessible((nint)header, sizeof(KvmCpuid2)))
            return -(int)Errno.EFAULT;
        // KVM leaves nent untouched when the buffer is too small.
        if (header->Nent < _cpuid.Length)
            return -(int)Errno.E2BIG;
        var destination = (KvmCpuidEntry2*)((byte*)header + sizeof(KvmCpuid2));
        if (!UserMemory.IsAccessible((nint)destination, _cpuid.Length * sizeof(KvmCpuidEntry2)))
            return -(int)Errno.EFAULT;
        _cpuid.CopyTo(new Span<KvmCpuidEntry2>(destination, _cpuid.Length));
        header->Nent = (uint)_cpuid.Length;
        return 0;
    }
}
