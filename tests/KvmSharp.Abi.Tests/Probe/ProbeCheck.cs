namespace KvmSharp.Abi.Tests.Probe;

/// <summary>One number C# claims for the header: <see cref="CExpression"/> must evaluate to <see cref="Expected"/>.</summary>
public sealed record ProbeCheck(string Subject, string CExpression, long Expected);

/// <summary>An Abi member that deliberately has no C counterpart, and why.</summary>
public sealed record Exemption(string Member, string Reason);
