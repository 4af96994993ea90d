using System.Net.Http.Json;
using Microsoft.Extensions.Options;

namespace KeepAlive.AspNetCore.FunctionalTests.ReadBack;

/// <summary>The sample as a user runs it: its appsettings.json, and environment variables over it.</summary>
public class SampleAppTests
{
    [Fact]
    public async Task Sample_applies_its_appsettings_policy_to_the_accepted_socket()
    {
        await using var factory = new SampleAppFactory();
        await factory.StartAsync();
        using var client = factory.CreateLoopbackClient();
        Assert.Equal("127.0.0.1", client.BaseAddress!.Host);

        // samples/WebApi/appsettings.json: Idle 00:01:00, Interval 00:00:10, ProbeCount 6, and no UserTimeout:
        // the derived one, 60 s + 10 s x 6 = 2 min.
        var expected = new KernelSocketOptions(true, 60, 10, 6, 120_000);
        Assert.Equal(expected, await LoopbackClient.ReadServerSocketAsync(client, client.BaseAddress));

        // The sample's own endpoint reports the same for the caller's connection.
        var connection = await client.GetFromJsonAsync<SampleConnection>("/connection", TestContext.Current.CancellationToken);
        Assert.Equal(new SampleConnection(true, 60, 10, 6, 120_000), connection);

        // Those values equal the library's defaults, so the kernel alone cannot tell the file was read;
        // its section can: no UserTimeout pinned (left null, derived), and the "streaming" policy.
        var options = factory.Services.GetRequiredService<IOptions<KeepAliveOptions>>().Value;
        Assert.Null(options.UserTimeout);
        Assert.Equal(TimeSpan.FromSeconds(15), options.Policies["streaming"].Idle);
    }

    [Fact]
    public async Task Environment_variables_override_the_sample_appsettings()
    {
        // Real process environment variables, read by the configuration's environment-variable provider
        // (the "__" separator included), but under a prefix unique to this test: a plain KeepAlive__Idle
        // would be read by every other test whose host loads environment variables (CreateBuilder does)
        // while this one runs. The prefixed names are invisible to them: to them it is a different section.
        var prefix = $"KATEST_{Guid.NewGuid():N}_";
        var variables = new Dictionary<string, string>
        {
            ["KeepAlive__Idle"] = "00:00:05",
            ["KeepAlive__Interval"] = "00:00:02",
            ["KeepAlive__ProbeCount"] = "3",
        };
        foreach (var (name, value) in variables)
            Environment.SetEnvironmentVariable(prefix + name, value);
        try
        {
            await using var factory = new SampleAppFactory(prefix);
            await factory.StartAsync();
            using var client = factory.CreateLoopbackClient();

            // Idle, Interval, ProbeCount from the environment, and the UserTimeout derived from them
            // (5 s + 2 s x 3 = 11 s): appsettings.json pins none, so nothing holds a dead idle client longer.
            Assert.Equal(new KernelSocketOptions(true, 5, 2, 3, 11_000), await LoopbackClient.ReadServerSocketAsync(client, client.BaseAddress!));
        }
        finally
        {
            foreach (var name in variables.Keys)
                Environment.SetEnvironmentVariable(prefix + name, null);
        }
    }

    // The JSON of the sample's GET /connection.
    private sealed record SampleConnection(bool KeepAlive, int IdleSeconds, int IntervalSeconds, int ProbeCount, int? UserTimeoutMilliseconds);
}
