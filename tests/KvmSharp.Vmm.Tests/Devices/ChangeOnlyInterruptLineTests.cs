using KvmSharp.Vmm.Devices;

namespace KvmSharp.Vmm.Tests.Devices;

public class ChangeOnlyInterruptLineTests
{
    [Fact]
    public void OnlyChangesOfLevelArePassedOn()
    {
        var levels = new List<bool>();
        var line = new ChangeOnlyInterruptLine(levels.Add);

        line.Set(false);
        line.Set(true);
        line.Set(true);
        line.Set(false);
        line.Set(false);

        Assert.Equal([true, false], levels);
        Assert.False(line.Level);
    }
}
