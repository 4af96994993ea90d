namespace KeepAlive.AspNetCore.FunctionalTests.Faults.Bounds;

/// <summary>
/// A preset keeps its promise whatever the top level says: Aggressive gives up on a dead peer after 11 s, idle or
/// busy, under a top level that pins a 2 min user timeout (which it once inherited: 2 min for both).
/// </summary>
public class PresetBoundsTests
{
    [Fact]
    public Task Aggressive_lets_dead_peers_go_after_11_s_under_a_top_level_that_pins_a_long_user_timeout() =>
        StatedBounds.MeasureAsync(b => b.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["KeepAlive:UserTimeout"] = "00:02:00",
            ["KeepAlive:Policies:fast:Preset"] = "Aggressive",
        }), policy: "fast");
}
