namespace KeepAlive.AspNetCore.Tests;

/// <summary>The options' defaults and the user timeout derived from them.</summary>
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
        Assert.Equal(TimeSpan.FromSeconds(120), options.KeepAliveSpan);
        Assert.Equal(TimeSpan.FromSeconds(120), options.EffectiveUserTimeout);
    }

    [Fact]
    public void Section_name_is_KeepAlive()
    {
        // Part of every documented key (KeepAlive:Idle, KeepAlive__Idle); renaming it breaks deployed configuration.
        Assert.Equal("KeepAlive", KeepAliveOptions.SectionName);
    }

    [Fact]
    public void Derived_user_timeout_follows_idle_interval_and_probe_count()
    {
        var options = new KeepAliveOptions { Idle = TimeSpan.FromSeconds(7), Interval = TimeSpan.FromSeconds(3), ProbeCount = 4 };

        Assert.Equal(TimeSpan.FromSeconds(19), options.KeepAliveSpan);
        Assert.Equal(TimeSpan.FromSeconds(19), options.EffectiveUserTimeout);
    }

    [Fact]
    public void Disabled_keepalive_has_no_user_timeout_unless_one_is_set()
    {
        // Without probes there is no keepalive span to derive it from; a derived one would drop connections
        // the user asked to leave alone.
        Assert.Equal(TimeSpan.Zero, new KeepAliveOptions { Enabled = false }.EffectiveUserTimeout);
        Assert.Equal(TimeSpan.FromSeconds(30), new KeepAliveOptions { Enabled = false, UserTimeout = TimeSpan.FromSeconds(30) }.EffectiveUserTimeout);
    }

    [Fact]
    public void Explicit_zero_user_timeout_stays_off_while_keepalive_is_on()
    {
        var options = new KeepAliveOptions { UserTimeout = TimeSpan.Zero };

        Assert.Equal(TimeSpan.Zero, options.EffectiveUserTimeout);
    }

    [Fact]
    public void Explicit_user_timeout_wins_over_the_derived_one()
    {
        var options = new KeepAliveOptions { UserTimeout = TimeSpan.FromMilliseconds(4500) };

        Assert.Equal(TimeSpan.FromMilliseconds(4500), options.EffectiveUserTimeout);
    }
}
