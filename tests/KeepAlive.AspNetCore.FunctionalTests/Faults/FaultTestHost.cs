using System.Diagnostics;
using KeepAlive.AspNetCore.FunctionalTests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace KeepAlive.AspNetCore.FunctionalTests.Faults;

/// <summary>Starts the real Kestrel app of a fault test, with Kestrel's logs captured.</summary>
internal static class FaultTestHost
{
    /// <param name="logs">Receives Kestrel's logs.</param>
    /// <param name="configurePolicy">Sets the keepalive policy under test (or none).</param>
    /// <param name="mapEndpoint">Maps the endpoint the vanishing client talks to.</param>
    public static Task<KestrelApp> StartAsync(KestrelLogCapture logs, Action<WebApplicationBuilder> configurePolicy, Action<WebApplication> mapEndpoint) =>
        KestrelApp.StartAsync(builder =>
        {
            builder.Logging.AddProvider(logs);
            builder.Logging.SetMinimumLevel(LogLevel.Debug);
            // A connection to a vanished peer that is still open at the end of a test must not hold up its disposal.
            builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(5));
            configurePolicy(builder);
        }, mapEndpoint);

    /// <summary>Awaits <paramref name="task"/> for at most <paramref name="timeout"/>, failing with a message that says what did not happen.</summary>
    public static async Task<T> WithinAsync<T>(Task<T> task, TimeSpan timeout, string what)
    {
        try
        {
            return await task.WaitAsync(timeout, TestContext.Current.CancellationToken);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"{what} did not happen within {timeout.TotalSeconds:F0} s.");
        }
    }

    /// <summary>
    /// Waits until <paramref name="duration"/> has passed since the <see cref="Stopwatch"/> timestamp
    /// <paramref name="since"/>, or until <paramref name="task"/> completes, whichever is first.
    /// </summary>
    public static async Task WatchAsync(Task task, long since, TimeSpan duration)
    {
        // Task.Delay may wake a little early (timer granularity): wait again for what is left.
        TimeSpan remaining;
        while (!task.IsCompleted && (remaining = duration - Stopwatch.GetElapsedTime(since)) > TimeSpan.Zero)
            await Task.WhenAny(task, Task.Delay(remaining + TimeSpan.FromMilliseconds(1), TestContext.Current.CancellationToken));
    }
}
