using Microsoft.Extensions.Options;

namespace KeepAlive.AspNetCore.FunctionalTests.Configuration;

/// <summary>
/// Startup failures arrive one way: from the host's <c>StartAsync</c>, logged by the host, every bad key in one
/// <see cref="OptionsValidationException"/>: option values, routes naming no policy, <c>KeepAlive:Endpoints</c> naming no
/// Kestrel endpoint. <c>UseKeepAliveRoutePolicies()</c> in Program.cs throws nothing itself.
/// </summary>
public class StartupFailureTests
{
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Every_bad_key_fails_StartAsync_in_one_exception_that_the_host_logs(bool routePolicies)
    {
        var logs = new LogSink();
        var builder = KestrelApp.CreateBuilder(defaultEndpoint: false);
        builder.Logging.AddProvider(logs);
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Kestrel:Endpoints:Streams:Url"] = "http://127.0.0.1:0",
            ["KeepAlive:ProbeCount"] = "0",
            ["KeepAlive:Idle"] = "00:30",
            ["KeepAlive:Policies:streaming:Idle"] = "00:00:15",
            ["KeepAlive:Endpoints:Stream"] = "streaming",
        });
        builder.UseKeepAlivePolicy();
        await using var app = builder.Build();

        // Program.cs itself throws nothing: not UseKeepAliveRoutePolicies(), not the mapping.
        if (routePolicies)
            app.UseKeepAliveRoutePolicies();
        app.MapGet("/events", () => "").WithKeepAlivePolicy("nope");
        var failure = await Assert.ThrowsAsync<OptionsValidationException>(() => app.StartAsync(TestContext.Current.CancellationToken));

        // A route's policy name is checked where it has an effect: with UseKeepAliveRoutePolicies().
        string[] route = routePolicies ? ["The endpoint 'HTTP: GET /events' names the policy 'nope', which is not in KeepAlive:Policies; the policies are streaming"] : [];
        Assert.Equal(
        [
            "KeepAlive:Idle: '00:30' has no seconds; .NET would read it as 00:30:00 (30 minutes). Write 00:00:30 for 30 seconds or 00:30:00 for 30 minutes; " +
                "allowed: 00:00:01 to 09:06:07 (1 to 32767 seconds), in whole seconds",
            "KeepAlive:ProbeCount is 0; allowed: 1 to 127",
            .. route,
            "KeepAlive:Endpoints:Stream names the Kestrel endpoint 'Stream', which is not in Kestrel:Endpoints; the endpoints are Streams",
        ], failure.Failures);
        // The host logged it, as it logs any startup failure, with every message.
        var logged = Assert.Single(logs.Entries, e => e.Exception is not null);
        Assert.Equal(LogLevel.Error, logged.Level);
        Assert.Same(failure, logged.Exception);
    }
}
