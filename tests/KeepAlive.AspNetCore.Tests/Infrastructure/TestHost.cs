using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;

namespace KeepAlive.AspNetCore.Tests.Infrastructure;

/// <summary>
/// A real, hermetic Kestrel host: only the configuration a test gives (no appsettings, environment
/// variables or command line from the machine), listening on 127.0.0.1 with a port the OS picks.
/// </summary>
internal static class TestHost
{
    /// <param name="configuration">The configuration keys, e.g. <c>["KeepAlive:Idle"] = "00:00:30"</c>.</param>
    /// <param name="configure">Runs last on the builder: <c>UseKeepAlivePolicy</c>, Kestrel endpoints, more sources.</param>
    /// <param name="defaultEndpoint">Listen on <c>http://127.0.0.1:0</c>; turn off when the test adds its own endpoint.</param>
    public static WebApplicationBuilder CreateBuilder(
        IEnumerable<KeyValuePair<string, string?>>? configuration,
        Action<WebApplicationBuilder> configure,
        bool defaultEndpoint = true)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Configuration.Sources.Clear();
        builder.Configuration.AddInMemoryCollection(configuration ?? []);
        if (defaultEndpoint)
            builder.WebHost.UseUrls("http://127.0.0.1:0");
        configure(builder);
        return builder;
    }

    /// <summary>
    /// Builds the app, starts it (listening for real), stops and disposes it. Returns what was thrown
    /// and where; a test about messages looks at <see cref="StartupOutcome.Failure"/>, one about the
    /// phase at the two.
    /// </summary>
    /// <param name="builder">The builder from <see cref="CreateBuilder"/>.</param>
    /// <param name="onBuilt">Runs after a successful build, before the start: to read what the host resolved.</param>
    public static async Task<StartupOutcome> BuildStartAndStopAsync(WebApplicationBuilder builder, Action<WebApplication>? onBuilt = null)
    {
        WebApplication app;
        try
        {
            app = builder.Build();
        }
        catch (Exception ex)
        {
            return new StartupOutcome(ex, null);
        }

        await using (app)
        {
            onBuilt?.Invoke(app);
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
            timeout.CancelAfter(TimeSpan.FromSeconds(30));
            try
            {
                await app.StartAsync(timeout.Token);
            }
            catch (Exception ex) when (!timeout.IsCancellationRequested)
            {
                return new StartupOutcome(null, ex);
            }
            await app.StopAsync(timeout.Token);
            return new StartupOutcome(null, null);
        }
    }
}

/// <param name="BuildException">What <c>WebApplicationBuilder.Build()</c> threw.</param>
/// <param name="StartException">What <c>StartAsync</c> threw.</param>
internal sealed record StartupOutcome(Exception? BuildException, Exception? StartException)
{
    /// <summary>What startup (build, then start) threw first, if anything.</summary>
    public Exception? Failure => BuildException ?? StartException;
}
