namespace KeepAlive.AspNetCore.Tests;

public class KeepAliveOptionsTests
{
    [Fact]
    public void Defaults_give_up_on_a_silent_peer_after_two_minutes()
    {
        var options = new KeepAliveOptions();

        Assert.True(options.Enabled);
        Assert.Equal(TimeSpan.FromSeconds(60), options.Idle);
        Assert.Equal(TimeSpan.FromSeconds(10), options.Interval);
        Assert.Equal(6, options.ProbeCount);
        Assert.Null(options.UserTimeout);
        Assert.Equal(TimeSpan.FromSeconds(120), options.EffectiveUserTimeout);
    }
}
