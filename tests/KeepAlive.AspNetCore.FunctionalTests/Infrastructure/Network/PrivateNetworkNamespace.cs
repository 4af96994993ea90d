namespace KeepAlive.AspNetCore.FunctionalTests.Infrastructure.Network;

/// <summary>
/// The guard of every fault test: packets may only be dropped inside a private network namespace
/// (<c>unshare -rn</c>), where the only interface is loopback and no rule can touch the machine's own
/// network. Outside one, a fault test skips, or fails when CI asked for the fault tests.
/// </summary>
internal static class PrivateNetworkNamespace
{
    /// <summary>Set to <c>1</c> by <c>eng/test.sh</c>: a fault test that cannot run is then a failure, not a skip.</summary>
    public const string RequireVariable = "KEEPALIVE_REQUIRE_FAULT_TESTS";

    private const string HowToRun =
        "Fault tests drop packets with nftables and only run inside a private network namespace. " +
        "Run them with `bash eng/test.sh`, which runs `dotnet test` inside `unshare -rn`.";

    /// <summary>
    /// Whether this process is in a private network namespace: <c>/proc/self/net/dev</c> lists only
    /// <c>lo</c>. (<c>/proc/1/ns/net</c>, the obvious comparison, is unreadable inside the namespace.)
    /// </summary>
    public static bool IsCurrent => IsLoopbackOnly(ReadNetDev());

    /// <summary>Stops the test unless it may drop packets: skips, or fails under <see cref="RequireVariable"/>.</summary>
    public static void Require()
    {
        var netDev = ReadNetDev();
        if (!IsLoopbackOnly(netDev))
        {
            var message = $"{HowToRun} This process sees the interfaces: {string.Join(", ", InterfaceNames(netDev))}.";
            if (Environment.GetEnvironmentVariable(RequireVariable) == "1")
                Assert.Fail(message);
            Assert.Skip(message);
        }

        if (Nftables.ExecutablePath is null)
            Assert.Fail("Fault tests need the nft command (nftables), which is not installed: apt-get install nftables.");
    }

    /// <summary>Throws unless in a private namespace: the last line of defence before running <c>nft</c>.</summary>
    public static void EnsureCurrent()
    {
        if (!IsCurrent)
            throw new InvalidOperationException($"Refusing to change nftables rules outside a private network namespace. {HowToRun}");
    }

    /// <summary>Whether a <c>/proc/net/dev</c> text lists exactly one interface, <c>lo</c>.</summary>
    public static bool IsLoopbackOnly(string netDev) => InterfaceNames(netDev) is ["lo"];

    /// <summary>The interface names in a <c>/proc/net/dev</c> text: two header lines, then <c>name: counters</c>.</summary>
    public static IReadOnlyList<string> InterfaceNames(string netDev) =>
        netDev.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Skip(2)
            .Select(line => line.Split(':', 2))
            .Where(parts => parts.Length == 2)
            .Select(parts => parts[0].Trim())
            .ToList();

    // No such file off Linux: no interfaces listed, so never "private".
    private static string ReadNetDev() =>
        File.Exists("/proc/self/net/dev") ? File.ReadAllText("/proc/self/net/dev") : "";
}
