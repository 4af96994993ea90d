using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;

namespace KeepAlive.AspNetCore.FunctionalTests.ReadBack;

/// <summary>
/// The sample app (samples/WebApi, its own Program.cs and appsettings.json) on real Kestrel through
/// Mvc.Testing. <c>UseKestrel(0)</c> makes the factory bind <c>http://127.0.0.1:0</c> with
/// PreferHostingUrls, which overrides the sample's <c>Kestrel:Endpoints</c> (localhost:5080), so tests
/// in parallel never collide on a port. It adds <c>/socket</c> (the kernel's values, read by Linux
/// option numbers) next to the sample's own <c>/connection</c>.
/// </summary>
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
        UseKestrel(0);
    }

    /// <summary>Starts the sample, bounded: <see cref="WebApplicationFactory{T}.StartServer"/> itself blocks.</summary>
    public Task StartAsync() =>
        Task.Run(StartServer, TestContext.Current.CancellationToken).WaitAsync(LoopbackClient.Timeout, TestContext.Current.CancellationToken);

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        // The sample logs to the console; keep test output to what the tests say.
        builder.ConfigureLogging(logging => logging.ClearProviders());
        builder.ConfigureServices(services => services.AddTransient<IStartupFilter, SocketReadBackStartupFilter>());
        if (_environmentPrefix is not null)
            builder.ConfigureAppConfiguration(configuration => configuration.AddEnvironmentVariables(_environmentPrefix));
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
