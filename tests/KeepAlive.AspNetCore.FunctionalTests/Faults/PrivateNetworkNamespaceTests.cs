namespace KeepAlive.AspNetCore.FunctionalTests.Faults;

/// <summary>The guard that keeps the fault tests' nftables rules inside a private network namespace.</summary>
public class PrivateNetworkNamespaceTests
{
    private const string Header =
        "Inter-|   Receive                                                |  Transmit\n" +
        " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n";

    [Fact]
    public void A_namespace_with_only_loopback_is_private()
    {
        var netDev = Header + "    lo:       0       0    0    0    0     0          0         0        0       0    0    0    0     0       0          0\n";

        Assert.True(PrivateNetworkNamespace.IsLoopbackOnly(netDev));
    }

    [Fact]
    public void The_machines_own_namespace_is_not_private()
    {
        var netDev = Header +
            "    lo:   82169     382    0    0    0     0          0         0    82169     382    0    0    0     0       0          0\n" +
            "  eth0: 68529137    2593    0    0    0     0          0         0   184279    1844    0    0    0     0       0          0\n";

        Assert.False(PrivateNetworkNamespace.IsLoopbackOnly(netDev));
        Assert.Equal(["lo", "eth0"], PrivateNetworkNamespace.InterfaceNames(netDev));
    }

    [Fact]
    public void No_interface_list_is_not_private() =>
        Assert.False(PrivateNetworkNamespace.IsLoopbackOnly(""));

    // Under eng/test.sh this must hold, or every fault test would be skipped or fail for the wrong reason.
    [Fact]
    public void This_run_may_drop_packets()
    {
        PrivateNetworkNamespace.Require();

        Assert.True(PrivateNetworkNamespace.IsCurrent);
        Assert.NotNull(Nftables.ExecutablePath);
    }
}
