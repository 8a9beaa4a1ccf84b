namespace KvmSharp.Cli.Tests;

/// <summary>The tests that boot Linux take one of the machine's cores each for ~10 s; they run one after another, not side by side.</summary>
[CollectionDefinition(Name)]
public sealed class LinuxBoots
{
    public const string Name = "Linux boots";
}
