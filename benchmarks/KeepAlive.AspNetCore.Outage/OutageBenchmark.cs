using System.Diagnostics;
using System.Net;
using System.Runtime;
using System.Runtime.InteropServices;
using KeepAlive.AspNetCore.FunctionalTests.Infrastructure.Endpoints;
using KeepAlive.AspNetCore.FunctionalTests.Infrastructure.Logging;
using KeepAlive.AspNetCore.FunctionalTests.Infrastructure.Metrics;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;

namespace KeepAlive.AspNetCore.Outage;

internal sealed class OutageOptions
{
    public int Connections { get; set; } = 10_000;

    /// <summary>Off: plain Kestrel, to show what the server holds without the library.</summary>
    public bool Policy { get; set; } = true;

    /// <summary>Without the policy, how long to watch the dead connections before giving up on them.</summary>
    public TimeSpan Watch { get; set; } = TimeSpan.FromSeconds(30);
}

/// <summary>
/// Faults/OutageTests at scale, with the clients in their own process: warm-up (N streams opened and closed),
/// baseline, N streams from one address, the address cut off, time until the server has reclaimed every one,
/// N clients back from a new address, then everything closed and compared with the baseline.
/// </summary>
internal static class OutageBenchmark
{
    // Idle 1 s, interval 1 s, 2 probes: the kernel gives up 3 s after the peer's last packet. The tests' bound is 2 s more.
    private static readonly TimeSpan KeepAliveSpan = TimeSpan.FromSeconds(3);
    internal static readonly TimeSpan Bound = KeepAliveSpan + TimeSpan.FromSeconds(2);
    private static readonly TimeSpan Settle = TimeSpan.FromMinutes(2);
    private static readonly IPAddress WarmUpAddress = IPAddress.Parse("127.0.0.2");
    private static readonly IPAddress OutageAddress = IPAddress.Parse("127.0.0.3");
    private static readonly IPAddress NewAddress = IPAddress.Parse("127.0.0.4");

    public static async Task<int> RunAsync(OutageOptions options)
    {
        if (!NetworkCut.InPrivateNamespace)
        {
            Console.Error.WriteLine("Run this inside a private network namespace: bash benchmarks/outage.sh [connections]");
            return 1;
        }
        var n = options.Connections;
        var limit = OpenFileLimit();
        if (limit < n + 1000)
        {
            Console.Error.WriteLine($"The open file limit is {limit}; {n} connections need about {n + 1000} per process. Raise it (ulimit -n) or pass fewer --connections.");
            return 1;
        }

        Console.WriteLine($"# Outage of {n:N0} idle event streams, policy {(options.Policy ? "Idle 1 s, Interval 1 s, ProbeCount 2 (UserTimeout 3 s)" : "off (plain Kestrel)")}");
        Console.WriteLine($"machine: {Environment.ProcessorCount} cores, {RuntimeInformation.OSDescription}, .NET {Environment.Version}, " +
            $"{(GCSettings.IsServerGC ? "Server" : "Workstation")} GC, open file limit {limit} per process");

        using var tally = new ConnectionTally();
        var logs = LogSink.Counting();
        var streams = new SubscriberStreams();
        var warmUp = streams.From(WarmUpAddress);
        var cutOff = streams.From(OutageAddress);
        var reconnected = streams.From(NewAddress);
        var app = await StartServerAsync(options.Policy, logs, streams);
        var checks = new List<(string What, bool Ok)>();
        try
        {
            var address = new Uri(app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.Single());
            var server = new IPEndPoint(IPAddress.Parse(address.Host), address.Port);
            tally.Port = server.Port;
            await using var clients = ClientProcessConnection.Start();
            await using var network = new NetworkCut();

            var warmUpTime = await clients.OpenAsync(server, WarmUpAddress, n);
            await WaitUntilAsync(() => warmUp.Opened == n, "the warm-up streams reaching the app");
            await clients.CloseAsync(WarmUpAddress);
            await tally.WaitUntilAsync(t => t.Active == 0, Settle, "the warm-up connections closing", CancellationToken.None);
            await network.CutAsync(WarmUpAddress);
            await network.RestoreAsync();
            GC.Collect();
            GC.WaitForPendingFinalizers();
            var baseline = ProcessFootprint.Measure();
            Console.WriteLine($"warm-up: {n:N0} streams opened in {warmUpTime.TotalSeconds:F1} s and closed");
            Console.WriteLine($"baseline: {baseline}");

            var openTime = await clients.OpenAsync(server, OutageAddress, n);
            await WaitUntilAsync(() => cutOff.Opened == n, "the streams reaching the app");
            var open = ProcessFootprint.Measure();
            Console.WriteLine($"{n:N0} streams open (in {openTime.TotalSeconds:F1} s): {open}; client process {clients.FileDescriptors} fds");
            Console.WriteLine($"  per connection, server side: {(open.ObjectHeapBytes - baseline.ObjectHeapBytes) / (double)n / 1024:F1} KiB of objects, " +
                $"{(open.WorkingSetBytes - baseline.WorkingSetBytes) / (double)n / 1024:F1} KiB of working set");

            long dropped;
            await using (var peak = PeakMemory.Start())
            {
                dropped = await network.CutAsync(OutageAddress);
                if (!options.Policy)
                {
                    await Task.Delay(options.Watch);
                    Console.WriteLine($"{options.Watch.TotalSeconds:F0} s after the cut: {cutOff.Aborted:N0} of {n:N0} streams ended; " +
                        $"the server still holds {tally.Active:N0} connections, {ProcessFootprint.Measure()}");
                    await clients.AbandonAsync(OutageAddress);
                    return 0;
                }
                await tally.WaitUntilAsync(
                    t => cutOff.Aborted == n && t.Lost >= n && t.Active == 0, Settle, "every cut-off stream ending", CancellationToken.None);
                var lastAborted = Stopwatch.GetElapsedTime(dropped, cutOff.LastAborted);
                var lastLost = Stopwatch.GetElapsedTime(dropped, tally.LastLost);
                var lastClosed = Stopwatch.GetElapsedTime(dropped, tally.LastActiveDown);
                Console.WriteLine($"cut -> first RequestAborted {Stopwatch.GetElapsedTime(dropped, cutOff.FirstAborted).TotalSeconds:F3} s, " +
                    $"last RequestAborted {lastAborted.TotalSeconds:F3} s, last keepalive.lost_connections {lastLost.TotalSeconds:F3} s, " +
                    $"last kestrel.active_connections decrement {lastClosed.TotalSeconds:F3} s (bound {Bound.TotalSeconds:F0} s)");
                Console.WriteLine($"keepalive.lost_connections: {tally.Lost:N0} ({tally.LostByCause}); ConnectionLost log lines: {logs.ConnectionLost:N0}; " +
                    $"Kestrel warnings with an exception: {logs.KestrelExceptions}");
                Console.WriteLine($"peak while {n:N0} connections were open and reclaimed (sampled every 20 ms): working set {Mib(peak.WorkingSetBytes)}, " +
                    $"GC heap {Mib(peak.HeapSizeBytes)}, GC committed {Mib(peak.CommittedBytes)}");
                checks.Add(($"every stream reclaimed within {Bound.TotalSeconds:F0} s", Max(lastAborted, lastLost, lastClosed) <= Bound));
                checks.Add(($"lost_connections counts exactly {n}", tally.Lost == n && tally.LostWith("keepalive_timeout") == n));
                checks.Add(("one ConnectionLost line each, no Kestrel stack trace", logs.ConnectionLost == n && logs.KestrelExceptions == 0));
            }

            // The cut-off clients have given up their old connections (their host restarted, or moved networks),
            // and come back from a new address while the old one is still cut off.
            await clients.AbandonAsync(OutageAddress);
            var backTime = await clients.OpenAsync(server, NewAddress, n);
            await WaitUntilAsync(() => reconnected.Opened == n, "the reconnected streams reaching the app");
            Console.WriteLine($"reconnect: {n:N0} streams from a new address opened in {backTime.TotalSeconds:F1} s; {tally.Active:N0} active connections");
            checks.Add(("every reconnected client served", reconnected.Opened == n && tally.Active == n));
            await clients.CloseAsync(NewAddress);
            await network.RestoreAsync();
            await tally.WaitUntilAsync(t => t.Active == 0 && reconnected.Aborted == n, Settle, "the reconnected connections closing", CancellationToken.None);

            var after = ProcessFootprint.Measure();
            Console.WriteLine($"after: {after}");
            Console.WriteLine($"change from baseline: {after.FileDescriptors - baseline.FileDescriptors:+0;-0;0} fds ({after.FileDescriptorChangesSince(baseline)}), " +
                $"objects {(after.ObjectHeapBytes - baseline.ObjectHeapBytes) / 1024.0:+0;-0;0} KiB, pinned {(after.PinnedHeapBytes - baseline.PinnedHeapBytes) / 1024.0:+0;-0;0} KiB, " +
                $"working set {(after.WorkingSetBytes - baseline.WorkingSetBytes) / 1048576.0:+0.0;-0.0;0} MiB");
            Console.WriteLine($"process peak resident set (VmHWM, whole run): {Mib(PeakMemory.ResidentHighWaterMarkBytes())}");
            // The working set stays up because the collector keeps what it committed; an aggressive collection
            // gives it back to the OS, which tells retained memory from leaked memory.
            GC.Collect(2, GCCollectionMode.Aggressive, blocking: true, compacting: true);
            Console.WriteLine($"after an aggressive collection (returns committed memory to the OS): {ProcessFootprint.Measure()}");
            checks.Add(("lost_connections still exactly N after the reconnected clients closed", tally.Lost == n));
            checks.Add(("no connection or socket left", tally.Active == 0 &&
                after.FileDescriptorKinds.GetValueOrDefault("socket") == baseline.FileDescriptorKinds.GetValueOrDefault("socket")));
        }
        finally
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }

        foreach (var (what, ok) in checks)
            Console.WriteLine($"{(ok ? "ok" : "FAILED")}: {what}");
        return checks.All(c => c.Ok) ? 0 : 1;
    }

    /// <summary>The server both benchmarks measure: <paramref name="settings"/> (the policy) as its only configuration.</summary>
    internal static async Task<WebApplication> StartServerAsync(
        bool policy, LogSink logs, SubscriberStreams streams, ReloadableConfiguration? settings = null, Action<WebApplication>? map = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Logging.AddProvider(logs);
        builder.Configuration.Sources.Clear();
        ((IConfigurationBuilder)builder.Configuration).Add(settings ?? ShortPolicy());
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        // Streams to clients that vanished must not hold up the end of a run without the policy.
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(5));
        if (policy)
            builder.UseKeepAlivePolicy();
        var app = builder.Build();
        streams.MapTo(app);
        map?.Invoke(app);
        await app.StartAsync();
        return app;
    }

    /// <summary>Idle 1 s, interval 1 s, 2 probes: the kernel gives up 3 s after the peer's last packet.</summary>
    internal static ReloadableConfiguration ShortPolicy() => new(new Dictionary<string, string?>
    {
        ["KeepAlive:Idle"] = "00:00:01",
        ["KeepAlive:Interval"] = "00:00:01",
        ["KeepAlive:ProbeCount"] = "2",
    });

    internal static async Task WaitUntilAsync(Func<bool> condition, string what)
    {
        var started = Stopwatch.GetTimestamp();
        while (!condition())
        {
            if (Stopwatch.GetElapsedTime(started) > Settle)
                throw new TimeoutException($"{what} did not happen within {Settle.TotalSeconds:F0} s.");
            await Task.Delay(10);
        }
    }

    private static TimeSpan Max(params TimeSpan[] values) => values.Max();

    internal static string Mib(long bytes) => $"{bytes / 1048576.0:F1} MiB";

    // "Max open files  20000  20000  files" in /proc/self/limits: the soft limit.
    internal static long OpenFileLimit() =>
        File.ReadLines("/proc/self/limits").FirstOrDefault(l => l.StartsWith("Max open files", StringComparison.Ordinal)) is { } line
            ? long.Parse(line["Max open files".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries)[0], System.Globalization.CultureInfo.InvariantCulture)
            : 0;
}
