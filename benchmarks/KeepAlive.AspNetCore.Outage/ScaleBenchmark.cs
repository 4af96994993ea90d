using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Globalization;
using System.Net;
using KeepAlive.AspNetCore.FunctionalTests.Infrastructure.Endpoints;
using KeepAlive.AspNetCore.FunctionalTests.Infrastructure.Logging;
using KeepAlive.AspNetCore.FunctionalTests.Infrastructure.Metrics;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;

namespace KeepAlive.AspNetCore.Outage;

/// <summary>
/// The outage at one count, with what each thing costs there: N connections held (idle streams, or a mix with ticking
/// streams and WebSockets), their memory and descriptors; one gauge collection, one connection-view request and a
/// reload that re-applies the policy to every connection; then all N cut off at once while the same number reconnect
/// from new addresses and a few clients that never left keep sending requests: the reclaim's bound, its count by cause
/// and its CPU, and those clients' latency. Prints one <c>scale:</c> line of results for the table in docs/benchmarks.md.
/// </summary>
internal static class ScaleBenchmark
{
    private const int Repeats = 5, GaugeRepeats = 21;
    // What the server needs besides its connections (runtime, assemblies, listeners, the view's requests): the room a
    // reconnect storm can use is the descriptor limit less the connections held and this.
    private const int Reserve = 500;
    private static readonly TimeSpan QuietProbe = TimeSpan.FromSeconds(3);

    // Each kind of client in its own group: one address for the warm-up, one for those cut off, one for those back during
    // the reclaim and one for the rest, back once the server has room.
    private static readonly Kind[] Kinds =
    [
        new("open", 2, "127.0.1.1", "127.0.2.1", "127.0.3.1", "127.0.4.1", "tcp_keepalive_timeout"),
        new("open-ticks", 4, "127.0.1.2", "127.0.2.2", "127.0.3.2", "127.0.4.2", "tcp_user_timeout"),
        new("open-ws", 4, "127.0.1.3", "127.0.2.3", "127.0.3.3", "127.0.4.3", "tcp_keepalive_timeout"),
    ];
    private static readonly IPAddress NeverLeft = IPAddress.Parse("127.0.9.1");

    public static async Task<int> RunAsync(ScaleOptions options)
    {
        if (!NetworkCut.InPrivateNamespace)
        {
            Console.Error.WriteLine("Run this inside a private network namespace: bash benchmarks/scale.sh");
            return 1;
        }
        var n = options.Connections;
        var limit = OutageBenchmark.OpenFileLimit();
        var groups = Split(n, options.Mixed);
        var mix = options.Mixed ? "mixed" : "idle";
        Console.WriteLine($"# Scale: {n:N0} connections ({string.Join(", ", groups.Select(g => $"{g.Count:N0} {g.Kind.Command}"))}), " +
            $"policy {(options.Policy ? "Idle 1 s, Interval 1 s, ProbeCount 2 (UserTimeout 3 s)" : "off (plain Kestrel)")}, open file limit {limit}");

        using var tally = new ConnectionTally();
        var logs = LogSink.Counting();
        var streams = new SubscriberStreams();
        var settings = OutageBenchmark.ShortPolicy();
        var app = await OutageBenchmark.StartServerAsync(options.Policy, logs, streams, settings, app =>
        {
            new MixedEndpoints(streams).MapTo(app);
            if (options.Policy)
                app.MapKeepAliveConnections("/keepalive/connections");
        });
        var results = new List<(string Key, string Value)> { ("n", n.ToString(CultureInfo.InvariantCulture)), ("mix", mix), ("policy", options.Policy ? "on" : "off") };
        var checks = new List<(string What, bool Ok)>();
        void Result(string key, FormattableString value) => results.Add((key, value.ToString(CultureInfo.InvariantCulture)));
        try
        {
            var address = new Uri(app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.Single());
            var server = new IPEndPoint(IPAddress.Parse(address.Host), address.Port);
            tally.Port = server.Port;
            await using var clients = ClientProcessConnection.Start();
            await using var network = new NetworkCut();
            using var http = new HttpClient { BaseAddress = address };

            // Warm-up: the same crowd opened and abandoned (a reset leaves no TIME_WAIT entry for the gauge's socket dump to
            // walk), so pools and code are warm before the baseline; then its sockets gone from this process.
            var socketsBefore = OpenSockets();
            await OpenAsync(clients, server, streams, groups, g => g.WarmUp);
            foreach (var g in groups)
                await clients.AbandonAsync(g.WarmUp);
            await tally.WaitUntilAsync(t => t.Active == 0, TimeSpan.FromMinutes(2), "the warm-up connections closing", CancellationToken.None);
            await OutageBenchmark.WaitUntilAsync(() => OpenSockets() <= socketsBefore, "the warm-up's sockets closing");
            // A live client's reset that crosses a keepalive probe in flight reads as a reboot answering the probe
            // (tcp_probe_reset, docs/metrics.md): the race is reported, and what it counted left out of the outage's count.
            var warmUpLost = tally.Lost;
            var warmUpLines = logs.ConnectionLost;
            Result("warmup_resets_counted", $"{warmUpLost}");
            checks.Add(("warm-up clients' resets: at most 1 % counted, all as tcp_probe_reset",
                warmUpLost == tally.LostWith("tcp_probe_reset") && warmUpLost * 100 <= n));
            var baseline = MeasureCompacted();

            var openTime = await OpenAsync(clients, server, streams, groups, g => g.CutOff);
            var open = MeasureCompacted();
            Console.WriteLine($"{n:N0} open in {openTime.TotalSeconds:F1} s: {open}");
            Result("objects_per_conn_B", $"{(open.ObjectHeapBytes - baseline.ObjectHeapBytes) / (double)n:F0}");
            Result("managed_per_conn_B", $"{(open.ManagedHeapBytes - baseline.ManagedHeapBytes) / (double)n:F0}");
            Result("rss_per_conn_KiB", $"{(open.WorkingSetBytes - baseline.WorkingSetBytes) / (double)n / 1024:F2}");
            Result("fds", $"{open.FileDescriptors}");
            Result("sockets_per_conn", $"{(Sockets(open) - Sockets(baseline)) / (double)n:F3}");

            if (options.Policy)
            {
                var (gaugeWall, gaugeCpu) = MeasureGauge();
                Result("gauge_ms", $"{gaugeWall:F2}");
                Result("gauge_cpu_ms", $"{gaugeCpu:F2}");
                foreach (var limitParameter in new[] { 100, 10_000 })
                {
                    var (viewWall, viewCpu, viewBytes) = await MeasureViewAsync(http, limitParameter);
                    Result($"view{limitParameter}_ms", $"{viewWall:F1}");
                    Result($"view{limitParameter}_cpu_ms", $"{viewCpu:F1}");
                    Result($"view{limitParameter}_KiB", $"{viewBytes / 1024.0:F0}");
                }
                var (reloadWall, reloadCpu) = MeasureReload(settings);
                Result("reload_ms", $"{reloadWall:F1}");
                Result("reload_cpu_ms", $"{reloadCpu:F1}");
            }

            await clients.StartProbeAsync(server, NeverLeft);
            await Task.Delay(QuietProbe);
            Result("quiet_latency", $"{await clients.StopProbeAsync()}");

            // The outage: every cut-off client's network gone at once; their hosts forget the connections and come back
            // from new addresses straight away, as many as the server's descriptor table has room for while it still holds
            // the dead (the rest once it has reclaimed them), while the clients that never left keep sending requests.
            var room = (int)Math.Max(0, limit - open.FileDescriptors - Reserve);
            var storm = Math.Min(n, room);
            var during = groups.Select(g => g with { Count = (int)((long)g.Count * storm / n) }).ToArray();
            Result("storm_during", $"{during.Sum(g => g.Count)}");
            await clients.StartProbeAsync(server, NeverLeft);
            var cpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
            var cut = await network.CutAsync(groups.Select(g => g.CutOff).ToArray());
            foreach (var g in groups)
                await clients.AbandonAsync(g.CutOff);
            var stormTime = await OpenAsync(clients, server, streams, during, g => g.During);
            var window = OutageBenchmark.Bound - Stopwatch.GetElapsedTime(cut);
            if (window > TimeSpan.Zero)
                await Task.Delay(window);
            // The CPU the server spent in the bound's window after the cut: the reclaim burst and the storm (on), the storm alone (off).
            Result("window_cpu_ms", $"{(Process.GetCurrentProcess().TotalProcessorTime - cpuBefore).TotalMilliseconds:F0}");
            Result("storm_open_s", $"{stormTime.TotalSeconds:F2}");
            Result("reclaim_latency", $"{await clients.StopProbeAsync()}");

            if (options.Policy)
            {
                await tally.WaitUntilAsync(t => t.Lost - warmUpLost >= n && groups.All(g => streams.From(g.CutOff).Aborted == g.Count), TimeSpan.FromMinutes(2),
                    $"every cut-off connection ending ({string.Join(", ", groups.Select(g => $"{g.Kind.Command}: {streams.From(g.CutOff).Aborted} of {g.Count} aborted"))})",
                    CancellationToken.None);
                var lastAborted = groups.Max(g => Stopwatch.GetElapsedTime(cut, streams.From(g.CutOff).LastAborted));
                var lastLost = Stopwatch.GetElapsedTime(cut, tally.LastLost);
                Result("first_aborted_s", $"{groups.Min(g => Stopwatch.GetElapsedTime(cut, streams.From(g.CutOff).FirstAborted).TotalSeconds):F2}");
                Result("last_aborted_s", $"{lastAborted.TotalSeconds:F2}");
                Result("last_lost_s", $"{lastLost.TotalSeconds:F2}");
                Result("lost", $"{string.Join(",", tally.LostByCause.Split(", ").Where(c => !c.EndsWith("=0", StringComparison.Ordinal)))}");
                var bound = OutageBenchmark.Bound;
                checks.Add(($"every connection reclaimed within the policy's bound + 2 s ({bound.TotalSeconds:F0} s)", lastAborted <= bound && lastLost <= bound));
                // tcp_timeout is the documented residual race (docs/metrics.md): a kernel timeout whose kind could not be read.
                var expected = groups.GroupBy(g => g.Kind.Cause).ToDictionary(c => c.Key, c => (long)c.Sum(g => g.Count));
                checks.Add(($"lost_connections counts exactly {n:N0}, each by its cause or as tcp_timeout", tally.Lost - warmUpLost == n &&
                    expected.All(c => tally.LostWith(c.Key) <= c.Value) && expected.Keys.Sum(tally.LostWith) + tally.LostWith("tcp_timeout") == n));
                checks.Add(("one ConnectionLost line each, no Kestrel stack trace", logs.ConnectionLost - warmUpLines == n && logs.KestrelExceptions == 0));

                var rest = groups.Select((g, i) => g with { Count = g.Count - during[i].Count }).ToArray();
                if (rest.Sum(g => g.Count) > 0)
                {
                    await clients.StartProbeAsync(server, NeverLeft);
                    var restTime = await OpenAsync(clients, server, streams, rest, g => g.Rest);
                    Result("rest_latency", $"{await clients.StopProbeAsync()}");
                    Result("rest_open_s", $"{restTime.TotalSeconds:F2}");
                }
                checks.Add(($"every one of the {n:N0} reconnecting clients served", groups.Sum(g => streams.From(g.During).Opened + streams.From(g.Rest).Opened) == n));
            }
            else
            {
                Result("held_dead", $"{groups.Sum(g => g.Count - streams.From(g.CutOff).Aborted)}");
                // Plain Kestrel still holds the dead: the rest cannot come back without passing the descriptor limit.
                Result("rest_open_s", storm == n ? $"none left" : (FormattableString)$"no room for {n - storm} more");
            }
            Result("vmhwm_MiB", $"{PeakMemory.ResidentHighWaterMarkBytes() / 1048576.0:F0}");
        }
        finally
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }

        foreach (var (what, ok) in checks)
            Console.WriteLine($"{(ok ? "ok" : "FAILED")}: {what}");
        Console.WriteLine("scale: " + string.Join(" ", results.Select(r => $"{r.Key}={r.Value.Replace(' ', '_')}")));
        return checks.All(c => c.Ok) ? 0 : 1;
    }

    // The working set after an aggressive collection, which returns what the collector holds but does not use: what the
    // connections need, not what the collector kept from the warm-up.
    private static ProcessFootprint MeasureCompacted()
    {
        GC.Collect(2, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        return ProcessFootprint.Measure();
    }

    private static int OpenSockets() =>
        Directory.GetFiles("/proc/self/fd").Count(fd => new FileInfo(fd).LinkTarget?.StartsWith("socket:", StringComparison.Ordinal) == true);

    private static int Sockets(ProcessFootprint footprint) => footprint.FileDescriptorKinds.GetValueOrDefault("socket");

    private static Group[] Split(int n, bool mixed)
    {
        if (!mixed)
            return [new Group(Kinds[0], n)];
        var ticks = n / Kinds[1].Share;
        var webSockets = n / Kinds[2].Share;
        return [new Group(Kinds[0], n - ticks - webSockets), new Group(Kinds[1], ticks), new Group(Kinds[2], webSockets)];
    }

    private static async Task<TimeSpan> OpenAsync(ClientProcessConnection clients, IPEndPoint server, SubscriberStreams streams, Group[] groups, Func<Group, IPAddress> from)
    {
        var started = Stopwatch.GetTimestamp();
        foreach (var g in groups.Where(g => g.Count > 0))
        {
            var subscribers = streams.From(from(g));
            var before = subscribers.Opened;
            await clients.OpenAsync(g.Kind.Command, server, from(g), g.Count);
            await OutageBenchmark.WaitUntilAsync(() => subscribers.Opened - before == g.Count, $"{g.Count} {g.Kind.Command} clients from {from(g)} reaching the app");
        }
        return Stopwatch.GetElapsedTime(started);
    }

    // One collection of keepalive.connections, as an exporter's collection makes it: the median of a few, wall and CPU.
    private static (double WallMs, double CpuMs) MeasureGauge()
    {
        using var listener = new MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter.Name == KeepAliveInstrumentation.MeterName && instrument.Name == "keepalive.connections")
                    l.EnableMeasurementEvents(instrument);
            },
        };
        listener.Start();
        return Median(() => listener.RecordObservableInstruments(), GaugeRepeats);
    }

    // One request of the connection view, from this process: wall time, the server process's CPU and the response's size.
    private static async Task<(double WallMs, double CpuMs, long Bytes)> MeasureViewAsync(HttpClient http, int limit)
    {
        var runs = new List<(double Wall, double Cpu, long Bytes)>();
        for (var i = 0; i < Repeats; i++)
        {
            var cpu = Process.GetCurrentProcess().TotalProcessorTime;
            var started = Stopwatch.GetTimestamp();
            var body = await http.GetByteArrayAsync($"/keepalive/connections?limit={limit}");
            runs.Add((Stopwatch.GetElapsedTime(started).TotalMilliseconds, (Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalMilliseconds, body.Length));
        }
        var median = runs.OrderBy(r => r.Wall).ElementAt(Repeats / 2);
        return (median.Wall, runs.Select(r => r.Cpu).Order().ElementAt(Repeats / 2), median.Bytes);
    }

    // A reload that changes the policy, which the library applies to every open connection before the call returns:
    // ProbeCount 3, then back to 2, over and over, ending on the policy the outage is measured with.
    private static (double WallMs, double CpuMs) MeasureReload(ReloadableConfiguration settings)
    {
        var probes = 2;
        return Median(() => settings.Change("KeepAlive:ProbeCount", (probes = 5 - probes).ToString(CultureInfo.InvariantCulture)), Repeats + 1);
    }

    private static (double WallMs, double CpuMs) Median(Action action, int repeats = Repeats)
    {
        var runs = new List<(double Wall, double Cpu)>();
        for (var i = 0; i < repeats; i++)
        {
            var cpu = ThreadCpu.Now();
            var started = Stopwatch.GetTimestamp();
            action();
            runs.Add((Stopwatch.GetElapsedTime(started).TotalMilliseconds, (ThreadCpu.Now() - cpu).TotalMilliseconds));
        }
        return (runs.Select(r => r.Wall).Order().ElementAt(repeats / 2), runs.Select(r => r.Cpu).Order().ElementAt(repeats / 2));
    }

    /// <summary>A kind of client: the client process's command, its share of the mix (1 in <see cref="Share"/>), its addresses, and the cause its loss is counted under.</summary>
    private sealed record Kind(string Command, int Share, string WarmUpAddress, string CutOffAddress, string DuringAddress, string RestAddress, string Cause);

    private sealed record Group(Kind Kind, int Count)
    {
        public IPAddress WarmUp => IPAddress.Parse(Kind.WarmUpAddress);
        public IPAddress CutOff => IPAddress.Parse(Kind.CutOffAddress);
        public IPAddress During => IPAddress.Parse(Kind.DuringAddress);
        public IPAddress Rest => IPAddress.Parse(Kind.RestAddress);
    }
}
