namespace KeepAlive.AspNetCore.Tests;

/// <summary>What decides whether a reload changed the configuration: the values, not how they were written.</summary>
public class PolicyValuesTests
{
    [Fact]
    public void The_same_values_under_names_in_another_case_and_order_are_the_same_configuration()
    {
        var a = Options(("Streaming", "AzureLoadBalancer"), ("Api", null));
        a.Endpoints["Public"] = "Streaming";
        var b = Options(("api", null), ("STREAMING", "azureloadbalancer"));
        b.Endpoints["public"] = "streaming";

        Assert.True(PolicyValues.SameConfiguration(a, b));
    }

    [Theory]
    [InlineData("top-level idle")]
    [InlineData("a policy's preset")]
    [InlineData("a policy's own value")]
    [InlineData("a policy added")]
    [InlineData("an endpoint's policy")]
    public void Any_changed_value_is_another_configuration(string change)
    {
        var before = Options(("streaming", "AzureLoadBalancer"), ("api", null));
        before.Endpoints["Public"] = "streaming";
        var after = Options(("streaming", "AzureLoadBalancer"), ("api", null));
        after.Endpoints["Public"] = "streaming";
        switch (change)
        {
            case "top-level idle": after.Idle = TimeSpan.FromSeconds(61); break;
            case "a policy's preset": after.Policies["streaming"].Preset = "Aggressive"; break;
            case "a policy's own value": after.Policies["api"].UserTimeout = TimeSpan.FromSeconds(9); break;
            case "a policy added": after.Policies["more"] = new KeepAlivePolicyOptions(); break;
            case "an endpoint's policy": after.Endpoints["Public"] = "api"; break;
        }

        Assert.False(PolicyValues.SameConfiguration(before, after));
        Assert.False(PolicyValues.SameConfiguration(after, before));
    }

    [Fact]
    public void A_top_level_change_a_named_policy_inherits_changes_its_values()
    {
        var before = Options(("api", null));
        var after = Options(("api", null));
        after.Interval = TimeSpan.FromSeconds(3);

        Assert.NotEqual(PolicyValues.Of(before.Resolve("api")!), PolicyValues.Of(after.Resolve("api")!));
    }

    private static KeepAliveOptions Options(params (string Name, string? Preset)[] policies)
    {
        var options = new KeepAliveOptions();
        foreach (var (name, preset) in policies)
            options.Policies[name] = new KeepAlivePolicyOptions { Preset = preset };
        return options;
    }
}
