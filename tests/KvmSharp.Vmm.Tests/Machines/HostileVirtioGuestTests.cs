using System.Buffers.Binary;
using KvmSharp.Vmm.Devices.Virtio;
using KvmSharp.Vmm.Machines;
using static Iced.Intel.AssemblerRegisters;

namespace KvmSharp.Vmm.Tests.Machines;

/// <summary>
/// A guest that drives the machine's virtio-blk device itself, through real
/// MMIO exits on Soft, and hands it malformed queues: the device goes to
/// DEVICE_NEEDS_RESET and says why, completes nothing, writes nothing, comes
/// back after a reset, and the VMM keeps running to the guest's power-off.
/// A well-formed GET_ID request through the same code shows the path works.
/// </summary>
public class HostileVirtioGuestTests
{
    private const ulong MemoryBytes = 64UL << 20;
    private const ulong DescriptorTable = 0x200000, AvailableRing = 0x201000, UsedRing = 0x202000;
    private const ulong Header = 0x203000, IdBuffer = 0x203100, StatusByte = 0x203200;
    private const ushort Next = 1, DeviceWritable = 2, Indirect = 4;
    private const byte Untouched = 0xEE;

    private sealed record Descriptor(ulong Address, uint Length, ushort Flags, ushort Next);

    // A GET_ID request: header (device-readable), 20 ID bytes and the status byte (device-writable).
    private static Descriptor[] GoodRequest() =>
    [
        new(Header, 16, Next, 1),
        new(IdBuffer, 20, DeviceWritable | Next, 2),
        new(StatusByte, 1, DeviceWritable, 0),
    ];

    public static TheoryData<string> HostileCases => new(Cases.Keys);

    private static readonly Dictionary<string, (Descriptor[] Table, ushort Head)> Cases = new()
    {
        ["header far outside RAM"] = (Replace(0, new(0x10_0000_0000, 16, Next, 1)), 0),
        ["ID buffer crossing the end of RAM"] = (Replace(1, new(MemoryBytes - 8, 20, DeviceWritable | Next, 2)), 0),
        ["ID buffer on the device's own registers"] = (Replace(1, new(LinuxMachine.VirtioMmioBase, 20, DeviceWritable | Next, 2)), 0),
        ["chain that loops back to its head"] = (Replace(2, new(StatusByte, 1, DeviceWritable | Next, 0)), 0),
        ["next index past the queue"] = (Replace(0, new(Header, 16, Next, 200)), 0),
        ["head index past the queue"] = (GoodRequest(), 9),
        ["indirect table outside RAM"] = (Replace(0, new(0xFFFF_FFFF_F000, 48, Indirect, 0)), 0),
        ["length of 4 GiB - 1"] = (Replace(1, new(IdBuffer, uint.MaxValue, DeviceWritable | Next, 2)), 0),
    };

    private static Descriptor[] Replace(int index, Descriptor descriptor)
    {
        var table = GoodRequest();
        table[index] = descriptor;
        return table;
    }

    /// <summary>
    /// Negotiates VERSION_1, sets up queue 0 (8 entries), makes one request
    /// available, notifies, then prints: the device status, the request's status
    /// byte, the used index, and the device status after writing 0 (a reset).
    /// </summary>
    private static TinyGuest Driver(Descriptor[] table, ushort head)
    {
        var guest = new TinyGuest();
        var a = guest.Code;
        void Register(int offset, uint value) => a.mov(__dword_ptr[rbx + offset], value);
        a.mov(rbx, LinuxMachine.VirtioMmioBase);
        Register(0x70, 0);
        Register(0x70, 1);
        Register(0x70, 3);
        Register(0x24, 1);
        Register(0x20, 1); // VERSION_1 is bit 32
        Register(0x24, 0);
        Register(0x20, 0);
        Register(0x70, 0xB);
        Register(0x30, 0);
        Register(0x38, 8);
        Register(0x80, (uint)DescriptorTable);
        Register(0x84, 0);
        Register(0x90, (uint)AvailableRing);
        Register(0x94, 0);
        Register(0xA0, (uint)UsedRing);
        Register(0xA4, 0);
        Register(0x44, 1);
        Register(0x70, 0xF);
        Register(0x50, 0);
        a.mov(eax, __dword_ptr[rbx + 0x70]);
        guest.PrintAl();
        a.mov(rsi, StatusByte);
        a.mov(al, __byte_ptr[rsi]);
        guest.PrintAl();
        a.mov(rsi, UsedRing + 2);
        a.mov(al, __byte_ptr[rsi]);
        guest.PrintAl();
        Register(0x70, 0);
        a.mov(eax, __dword_ptr[rbx + 0x70]);
        guest.PrintAl();
        guest.PowerOff();

        var descriptors = new byte[table.Length * 16];
        for (int i = 0; i < table.Length; i++)
        {
            var entry = descriptors.AsSpan(i * 16);
            BinaryPrimitives.WriteUInt64LittleEndian(entry, table[i].Address);
            BinaryPrimitives.WriteUInt32LittleEndian(entry[8..], table[i].Length);
            BinaryPrimitives.WriteUInt16LittleEndian(entry[12..], table[i].Flags);
            BinaryPrimitives.WriteUInt16LittleEndian(entry[14..], table[i].Next);
        }
        var available = new byte[6];
        BinaryPrimitives.WriteUInt16LittleEndian(available.AsSpan(2), 1); // idx
        BinaryPrimitives.WriteUInt16LittleEndian(available.AsSpan(4), head);
        var request = new byte[0x201];
        BinaryPrimitives.WriteUInt32LittleEndian(request, VirtioBlock.RequestGetId);
        request[StatusByte - Header] = Untouched;
        guest.Data.Add((DescriptorTable, descriptors));
        guest.Data.Add((AvailableRing, available));
        guest.Data.Add((Header, request));
        return guest;
    }

    private static (MachineExit Exit, byte[] Printed, VirtioMmioTransport Disk, string Log) Run(TinyGuest guest)
    {
        string kernel = guest.WriteElf();
        string disk = BootAssets.CreateDisk(2048);
        try
        {
            var log = new StringWriter();
            var console = new MemoryStream();
            using var machine = new LinuxMachine(KernelChoice.Open("soft"), new LinuxMachineOptions
            {
                KernelPath = kernel,
                MemoryBytes = MemoryBytes,
                Disks = [new DiskOptions(disk)],
                ConsoleOutput = console,
                DeviceLog = KvmSharp.Vmm.Devices.DeviceLogs.To(log),
            });
            var exit = machine.Run(TimeSpan.FromMinutes(1));
            Assert.All(File.ReadAllBytes(disk), b => Assert.Equal(0, b));
            return (exit, console.ToArray(), machine.VirtioDevices[0], log.ToString());
        }
        finally
        {
            File.Delete(kernel);
            File.Delete(disk);
        }
    }

    [Fact]
    public void AWellFormedRequestFromTheSameGuestCompletes()
    {
        var (exit, printed, disk, log) = Run(Driver(GoodRequest(), 0));
        Assert.Equal(MachineExitKind.PowerOff, exit.Kind);
        // DRIVER_OK and no NEEDS_RESET; status OK; one used entry; 0 after the reset.
        Assert.Equal(new byte[] { 0x0F, VirtioBlock.StatusOk, 1, 0 }, printed);
        Assert.Null(disk.LastFault);
        Assert.Equal("", log);
    }

    [Theory]
    [MemberData(nameof(HostileCases))]
    public void AMalformedQueueSetsNeedsResetAndTheVmmRunsOn(string hostileCase)
    {
        var (table, head) = Cases[hostileCase];
        var (exit, printed, disk, log) = Run(Driver(table, head));
        Assert.True(exit.Kind == MachineExitKind.PowerOff, $"{exit.Kind}: {exit.Reason}");
        Assert.Equal(4, printed.Length);
        Assert.Equal((byte)(0x0F | (byte)VirtioStatus.DeviceNeedsReset), printed[0]);
        Assert.Equal(Untouched, printed[1]); // no status written
        Assert.Equal(0, printed[2]);         // nothing completed
        Assert.Equal(0, printed[3]);         // the reset brought it back
        Assert.NotNull(disk.LastFault);
        Assert.Contains(disk.LastFault!, log);
        TestContext.Current.TestOutputHelper?.WriteLine(log);
    }
}
