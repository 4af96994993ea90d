using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace KeepAlive.AspNetCore.FunctionalTests.Configuration;

/// <summary>
/// Many configurations, valid and invalid (<see cref="ConfigurationCases"/>): each either starts and the kernel reads back
/// on real accepted sockets exactly what the documented rules give (<see cref="DocumentedRules"/>), or fails at startup
/// with a message naming its bad key. Every case is tried; the failures are reported together.
/// </summary>
public class GeneratedConfigurationTests
{
    // Configuration endpoints, told apart by address (127.0.0.0/8 is all loopback on Linux; the fault tests use 127.0.0.2 and up).
    private const string HttpHost = "127.0.4.1", PlainHost = "127.0.4.2";
    private const int Seed = 13;

    [Fact]
    public async Task Valid_configurations_start_and_every_policy_reads_back_as_documented()
    {
        var mismatches = new List<string>();
        var cases = ConfigurationCases.Valid(Seed, count: 100).ToList();
        var elapsed = Stopwatch.StartNew();
        foreach (var configuration in cases)
        {
            var settings = configuration.Effective();
            var policies = DocumentedRules.PolicyNames(settings);
            await using var app = await StartAsync(configuration, policies);
            var http = Address(app, HttpHost);
            var plain = Address(app, PlainHost);

            var reads = new List<(string What, ExpectedSocket Expected, Task<KernelSocketOptions> Read)>
            {
                ("the default (endpoint Plain)", DocumentedRules.Default(settings), SocketReadBack.ReadOnNewConnectionAsync(plain)),
                ("endpoint Http", DocumentedRules.Endpoint(settings, "Http"), SocketReadBack.ReadOnNewConnectionAsync(http)),
            };
            reads.AddRange(policies.Select((name, i) =>
                ($"policy '{name}' (route)", DocumentedRules.Named(settings, name), SocketReadBack.ReadOnNewConnectionAsync(plain, $"/policy/{i}"))));
            foreach (var (what, expected, read) in reads)
            {
                var actual = await read;
                if (!expected.Matches(actual))
                    mismatches.Add($"{configuration}{Environment.NewLine}  {what}: expected {expected}, read back {actual}");
            }
        }

        Assert.True(mismatches.Count == 0, string.Join(Environment.NewLine, mismatches));
        TestContext.Current.SendDiagnosticMessage($"{cases.Count} valid configurations started and read back in {elapsed.Elapsed.TotalSeconds:0.0} s");
    }

    [Fact]
    public async Task Invalid_configurations_fail_validation_naming_their_bad_key()
    {
        // Through the options factory, as the host validates at startup, without a server: fast enough for every case.
        var misses = new List<string>();
        var cases = ConfigurationCases.Invalid(Seed).ToList();
        foreach (var configuration in cases)
        {
            await using var app = Build(configuration);
            var factory = app.Services.GetRequiredService<IOptionsFactory<KeepAliveOptions>>();
            misses.AddRange(await MissAsync(configuration, () => Task.FromResult(factory.Create(Options.DefaultName))));
        }

        Assert.True(misses.Count == 0, string.Join(Environment.NewLine, misses));
        TestContext.Current.SendDiagnosticMessage($"{cases.Count} invalid configurations refused");
    }

    [Fact]
    public async Task Invalid_configurations_fail_StartAsync_on_a_real_Kestrel_naming_their_bad_key()
    {
        // A sample of the invalid cases, started for real: the failure comes from StartAsync.
        var misses = new List<string>();
        foreach (var configuration in ConfigurationCases.Invalid(Seed).Where((_, i) => i % 5 == 0))
        {
            await using var app = Build(configuration);
            misses.AddRange(await MissAsync(configuration, async () =>
            {
                await app.StartAsync(TestContext.Current.CancellationToken);
                await app.StopAsync(TestContext.Current.CancellationToken);
            }));
        }

        Assert.True(misses.Count == 0, string.Join(Environment.NewLine, misses));
    }

    // What is wrong with how a bad configuration was taken (nothing when it failed naming its key).
    private static async Task<IEnumerable<string>> MissAsync(ConfigurationCase configuration, Func<Task> start)
    {
        try
        {
            await start();
            return [$"{configuration}{Environment.NewLine}  accepted; expected a failure naming {configuration.BadKey}"];
        }
        catch (OptionsValidationException failure)
        {
            return Names(failure, configuration.BadKey!)
                ? []
                : [$"{configuration}{Environment.NewLine}  failed without naming {configuration.BadKey}: {failure.Message}"];
        }
    }

    // Keys are case-insensitive: the message names the key as the configuration spelled it.
    private static bool Names(OptionsValidationException failure, string key) =>
        failure.Failures.Any(f => f.StartsWith(key + ":", StringComparison.OrdinalIgnoreCase) || f.StartsWith(key + " ", StringComparison.OrdinalIgnoreCase));

    // On a real Kestrel: the two configuration endpoints, the case's layers, /socket, and one route per named policy.
    private static Task<KestrelApp> StartAsync(ConfigurationCase configuration, IReadOnlyList<string> policies) =>
        KestrelApp.StartAsync(b => Configure(b, configuration), app =>
        {
            app.UseKeepAliveRoutePolicies();
            for (var i = 0; i < policies.Count; i++)
                app.MapGet($"/policy/{i}", KernelReadBackEndpoint.WriteSocketOptionsAsync).WithKeepAlivePolicy(policies[i]);
        }, defaultEndpoint: false);

    private static WebApplication Build(ConfigurationCase configuration)
    {
        var builder = KestrelApp.CreateBuilder(defaultEndpoint: false);
        Configure(builder, configuration);
        return builder.Build();
    }

    private static void Configure(WebApplicationBuilder builder, ConfigurationCase configuration)
    {
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Kestrel:Endpoints:Http:Url"] = $"http://{HttpHost}:0",
            ["Kestrel:Endpoints:Plain:Url"] = $"http://{PlainHost}:0",
        });
        configuration.AddTo(builder.Configuration);
        builder.UseKeepAlivePolicy();
    }

    private static Uri Address(KestrelApp app, string host) => app.Addresses.Select(a => new Uri(a)).Single(a => a.Host == host);
}
