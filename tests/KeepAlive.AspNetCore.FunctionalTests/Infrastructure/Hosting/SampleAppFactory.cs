using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Mvc.Testing;

namespace KeepAlive.AspNetCore.FunctionalTests.Infrastructure.Hosting;

/// <summary>
/// The sample app (samples/WebApi, its own Program.cs and appsettings.json) on real Kestrel through
/// Mvc.Testing, bound to 127.0.0.1 on a port of its own. It adds <c>/socket</c> (the kernel's values,
/// read by Linux option numbers) next to the sample's own <c>/connection</c>.
/// </summary>
/// <remarks>
/// Not <c>UseKestrel(0)</c>: for a minimal-hosting app it rewrites the server addresses after
/// <c>Build()</c> while the app's own thread is already starting Kestrel, so now and then the sample
/// binds its default (localhost:5080) instead (seen here; dotnet/aspnetcore PR 67714).
/// A configuration endpoint (<c>Kestrel:Endpoints:Http</c>) is read when Kestrel starts, every time, and wins over the sample's default.
/// </remarks>
public sealed class SampleAppFactory : WebApplicationFactory<Program>
{
    private readonly string? _environmentPrefix;

    /// <param name="environmentPrefix">
    /// When set, the app also reads environment variables that start with this prefix, after its own
    /// sources, so they override appsettings.json as real environment variables do.
    /// </param>
    public SampleAppFactory(string? environmentPrefix = null)
    {
        _environmentPrefix = environmentPrefix;
        UseKestrel();
    }

    /// <summary>The one address Kestrel bound.</summary>
    public Uri Address => new(Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.Single());

    /// <summary>Starts the sample, bounded: <see cref="WebApplicationFactory{T}.StartServer"/> itself blocks.</summary>
    public Task StartAsync() =>
        Task.Run(StartServer, TestContext.Current.CancellationToken).WaitAsync(LoopbackClient.Timeout, TestContext.Current.CancellationToken);

    /// <summary>
    /// A client for <see cref="Address"/>. Not <c>CreateClient()</c>: its handler would honour a proxy
    /// from the environment, and the server would then read the proxy's socket, not this test's.
    /// </summary>
    public HttpClient CreateLoopbackClient()
    {
        var client = LoopbackClient.Create();
        client.BaseAddress = Address;
        return client;
    }

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        // The sample logs to the console; keep test output to what the tests say.
        builder.ConfigureLogging(logging => logging.ClearProviders());
        builder.ConfigureServices(services => services.AddTransient<IStartupFilter, SocketReadBackStartupFilter>());
        builder.ConfigureAppConfiguration(configuration =>
        {
            // After the sample's sources: one endpoint, on loopback, any free port.
            configuration.AddInMemoryCollection([KeyValuePair.Create("Kestrel:Endpoints:Http:Url", (string?)"http://127.0.0.1:0")]);
            if (_environmentPrefix is not null)
                configuration.AddEnvironmentVariables(_environmentPrefix);
        });
    }

    private sealed class SocketReadBackStartupFilter : IStartupFilter
    {
        public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
        {
            app.Map("/socket", socket => socket.Run(KernelReadBackEndpoint.WriteSocketOptionsAsync));
            next(app);
        };
    }
}
