namespace KeepAlive.AspNetCore.FunctionalTests.Faults.Bounds;

/// <summary>
/// <c>Enabled: false</c> with a user timeout: a dead idle peer is never let go (no probes), a dead peer being written
/// to after the user timeout.
/// </summary>
public class KeepAliveOffBoundsTests
{
    [Fact]
    public Task Without_keepalive_only_the_busy_dead_peer_is_let_go() =>
        StatedBounds.MeasureAsync(b => b.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["KeepAlive:Enabled"] = "false",
            ["KeepAlive:UserTimeout"] = "00:00:03",
        }));
}
