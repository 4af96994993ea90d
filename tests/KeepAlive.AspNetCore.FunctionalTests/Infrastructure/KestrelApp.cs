using System.Net;
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
using Microsoft.Extensions.Logging;

namespace KeepAlive.AspNetCore.FunctionalTests.Infrastructure;

/// <summary>
/// A real Kestrel app for tests, started on the endpoints the test configures (127.0.0.1:0 unless it
/// says otherwise), with no configuration source until the test adds one. It serves <c>GET /socket</c>: the kernel's keepalive options of the caller's own
/// server-side socket, as JSON (<see cref="KernelSocketOptions"/>).
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
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        // Hermetic: the sample's appsettings.json is in this output folder too. Tests add the sources they test.
        builder.Configuration.Sources.Clear();
        builder.Configuration.AddInMemoryCollection();
        if (defaultEndpoint)
            builder.WebHost.UseUrls("http://127.0.0.1:0");
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
