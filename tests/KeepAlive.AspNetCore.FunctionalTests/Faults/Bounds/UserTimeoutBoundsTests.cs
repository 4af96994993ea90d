namespace KeepAlive.AspNetCore.FunctionalTests.Faults.Bounds;

/// <summary>
/// The user timeout against the keepalive span (Idle 2 s + Interval 1 s x ProbeCount 2 = 4 s): shorter, equal (the
/// derived default) and longer. Linux ignores ProbeCount once a user timeout is set, so each gives a different bound
/// for a dead idle peer; a dead peer being written to is let go after the user timeout in each.
/// </summary>
public class UserTimeoutBoundsTests
{
    [Theory]
    [InlineData("00:00:03")] // shorter: idle 3 s (one probe, never before the second firing), busy 3 s
    [InlineData(null)]       // derived, equal to the span: idle 4 s, busy 4 s
    [InlineData("00:00:07")] // longer: idle 7 s (five probes), busy 7 s
    public Task Dead_peers_are_let_go_when_the_policy_says(string? userTimeout) =>
        StatedBounds.MeasureAsync(b => b.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["KeepAlive:Idle"] = "00:00:02",
            ["KeepAlive:Interval"] = "00:00:01",
            ["KeepAlive:ProbeCount"] = "2",
            ["KeepAlive:UserTimeout"] = userTimeout,
        }));
}
