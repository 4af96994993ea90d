using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace KeepAlive.AspNetCore.FunctionalTests.Infrastructure.Hosting;

/// <summary>
/// The functional tests' one host builder: a real Kestrel app, started on the endpoints the test configures
/// (127.0.0.1:0 unless it says otherwise), with no configuration source and no log provider until the test adds one.
/// It serves <c>GET /socket</c>: the kernel's keepalive options of the caller's own server-side socket, as JSON
/// (<see cref="KernelSocketOptions"/>). The sample app has its own, <see cref="SampleAppFactory"/>.
/// </summary>
public sealed class KestrelApp : IAsyncDisposable
{
    private KestrelApp(WebApplication app) => App = app;

    public WebApplication App { get; }

    /// <summary>The addresses Kestrel bound, e.g. <c>http://127.0.0.1:41234</c>.</summary>
    public IReadOnlyList<string> Addresses =>
        App.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.ToList();

    public Uri BaseAddress => new(Addresses[0]);

    /// <param name="configureBuilder">Configures the builder: configuration, <c>UseKeepAlivePolicy</c>, Kestrel endpoints.</param>
    /// <param name="configureApp">Maps more endpoints.</param>
    public static async Task<KestrelApp> StartAsync(
        Action<WebApplicationBuilder> configureBuilder,
        Action<WebApplication>? configureApp = null,
        bool defaultEndpoint = true)
    {
        var builder = CreateBuilder(defaultEndpoint);
        configureBuilder(builder);

        var app = builder.Build();
        app.MapGet("/socket", (HttpContext context) =>
            context.Features.Get<IConnectionSocketFeature>()?.Socket is { } socket
                ? Results.Json(KernelSocketOptions.Read(socket))
                : Results.Problem("no socket"));
        configureApp?.Invoke(app);
        await app.StartAsync(TestContext.Current.CancellationToken);
        return new KestrelApp(app);
    }

    /// <summary>
    /// Starts the app of a fault test: Kestrel's logs, Debug and up, into <paramref name="logs"/>, and a shutdown that
    /// a connection to a vanished peer, still open at the end of the test, does not hold up.
    /// </summary>
    /// <param name="configurePolicy">Sets the keepalive policy under test (or none).</param>
    /// <param name="mapEndpoint">Maps the endpoint the vanishing client talks to.</param>
    internal static Task<KestrelApp> StartAsync(LogSink logs, Action<WebApplicationBuilder> configurePolicy, Action<WebApplication> mapEndpoint) =>
        StartAsync(builder =>
        {
            builder.Logging.AddProvider(logs);
            builder.Logging.SetMinimumLevel(LogLevel.Debug);
            builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(5));
            configurePolicy(builder);
        }, mapEndpoint);

    /// <summary>
    /// The builder <see cref="StartAsync(Action{WebApplicationBuilder}, Action{WebApplication}?, bool)"/> starts, for a
    /// test that builds and starts the app itself (one that expects the start to fail).
    /// </summary>
    public static WebApplicationBuilder CreateBuilder(bool defaultEndpoint = true)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        // Hermetic: the sample's appsettings.json is in this output folder too. Tests add the sources they test.
        builder.Configuration.Sources.Clear();
        builder.Configuration.AddInMemoryCollection();
        if (defaultEndpoint)
            builder.WebHost.UseUrls("http://127.0.0.1:0");
        return builder;
    }

    /// <summary>Reads the server-side options of a new connection to <paramref name="address"/>.</summary>
    public static async Task<KernelSocketOptions> ReadServerSocketAsync(HttpClient client, Uri address)
    {
        var json = await client.GetStringAsync(new Uri(address, "/socket"), TestContext.Current.CancellationToken);
        return JsonSerializer.Deserialize<KernelSocketOptions>(json, JsonSerializerOptions.Web)!;
    }

    public async ValueTask DisposeAsync()
    {
        await App.StopAsync();
        await App.DisposeAsync();
    }
}
