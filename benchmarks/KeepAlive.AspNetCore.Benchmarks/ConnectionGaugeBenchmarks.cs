using System.Diagnostics;
using System.Net;
using System.Diagnostics.Metrics;
using BenchmarkDotNet.Attributes;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.DependencyInjection;

namespace KeepAlive.AspNetCore.Benchmarks;

/// <summary>
/// One collection of <c>keepalive.connections</c> (what an exporter's scrape costs) over <see cref="Connections"/>
/// held loopback connections accepted through the library's decorator: a pointer copy of the open connections under
/// the registry's lock, then their states (one socket dump from 1,000 connections, one getsockopt each below) and the counts. The collection runs synchronously
/// on the calling thread, so its time is its CPU time. The clients are in another process (<see cref="HeldClients"/>).
/// </summary>
[MemoryDiagnoser]
[Config(typeof(BenchmarkConfig))]
[SimpleJob(launchCount: 1, warmupCount: 3, iterationCount: 15)]
public class ConnectionGaugeBenchmarks
{
    private readonly List<ConnectionContext> _accepted = [];
    private LoopbackListener _listener = null!;
    private Process _clients = null!;
    private MeterListener _meterListener = null!;
    private long _observed;

    [Params(1_000, 10_000)]
    public int Connections { get; set; }

    // Blocking: BenchmarkDotNet's in-process toolchain (0.14) went on to the benchmark before an async setup that
    // really waits (for the accepts) had finished.
    [GlobalSetup]
    public void Setup() => SetupAsync().GetAwaiter().GetResult();

    [GlobalCleanup]
    public void Cleanup() => CleanupAsync().GetAwaiter().GetResult();

    // Under BenchmarkDotNet the setup takes no arguments: benchmarks/gauge-remote-clients.sh passes the server's
    // address and the clients' network namespace in the environment.
    private Task SetupAsync() => SetupAsync(
        Environment.GetEnvironmentVariable("GAUGE_SERVER_ADDRESS") is { } address ? IPAddress.Parse(address) : null,
        Environment.GetEnvironmentVariable("GAUGE_CLIENTS_NETNS"));

    private async Task SetupAsync(IPAddress? address, string? clientsNetns)
    {
        _listener = await LoopbackListener.BindAsync(withPolicy: true, address);
        _clients = HeldClients.Start(_listener.EndPoint, Connections, clientsNetns);
        // Accepted while the clients connect: Kestrel's backlog (512) is smaller than the count.
        for (var i = 0; i < Connections; i++)
            _accepted.Add(await _listener.Listener.AcceptAsync() ?? throw new InvalidOperationException("The listener was unbound."));
        var held = await _clients.StandardOutput.ReadLineAsync();
        if (held != $"held {Connections}")
            throw new InvalidOperationException($"The client process said '{held}'.");

        // This app's meter only.
        var meterFactory = _listener.Services.GetRequiredService<IMeterFactory>();
        _meterListener = new MeterListener
        {
            InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Name == "keepalive.connections" && instrument.Meter.Scope == meterFactory)
                    listener.EnableMeasurementEvents(instrument);
            },
        };
        _meterListener.SetMeasurementEventCallback<long>((_, value, _, _) => _observed += value);
        _meterListener.Start();
        if (Collect() != Connections)
            throw new InvalidOperationException($"A collection counted {_observed} connections, not {Connections}.");
    }

    /// <summary>
    /// The same collection timed by the CPU time of the collecting thread (<c>CLOCK_THREAD_CPUTIME_ID</c>) rather than
    /// the wall clock: on a machine shared with other work (a load of 10 on 2 cores, here) the wall clock also counts
    /// the time the thread waits for a core. Each collection alternates with the socket dump it makes, alone (the same
    /// NETLINK_SOCK_DIAG request, its replies received and nothing matched), in turn before and after it: what the
    /// kernel costs, so the library's own share reads off the same run however loaded the machine is. Prints the medians and quartiles of
    /// <paramref name="collections"/> of each.
    /// </summary>
    /// <param name="connections">How many connections the collection goes over.</param>
    /// <param name="collections">How many collections to time.</param>
    /// <param name="address">Where the server listens: 127.0.0.1 when not given.</param>
    /// <param name="clientsNetns">
    /// The network namespace of the clients (benchmarks/gauge-remote-clients.sh): then the server's table of sockets holds
    /// its own ends only, as on a server whose clients are remote, where on loopback it also holds the clients' ends.
    /// </param>
    public static async Task<int> PrintCpuTimeAsync(int connections, int collections, IPAddress? address = null, string? clientsNetns = null)
    {
        var benchmark = new ConnectionGaugeBenchmarks { Connections = connections };
        await benchmark.SetupAsync(address, clientsNetns);
        try
        {
            var port = (ushort)benchmark._listener.EndPoint.Port;
            var nothing = new TcpConnectionIndex();
            var states = new ConnectionState?[1];
            var times = new double[collections];
            var dumpTimes = new double[collections];
            for (var i = 0; i < collections; i++)
            {
                // In turn first and second: the one that follows finds the kernel's socket structures in the caches.
                if (i % 2 == 0)
                    times[i] = Time(() => benchmark.Collect());
                dumpTimes[i] = connections < KeepAliveConnectionGauge.NetlinkFrom ? 0 : Time(() =>
                {
                    if (!InetDiagTcpDump.TryReadStates(port, nothing, states))
                        throw new InvalidOperationException("The socket dump failed.");
                });
                if (i % 2 == 1)
                    times[i] = Time(() => benchmark.Collect());
            }
            // The library's own share, pair by pair: a moment of load shifts both of a pair alike.
            var shares = times.Zip(dumpTimes, (time, dump) => time - dump).ToArray();
            var dumped = connections >= KeepAliveConnectionGauge.NetlinkFrom;
            Console.WriteLine(string.Create(System.Globalization.CultureInfo.InvariantCulture,
                $"connections {connections}: CPU time per collection {Quartiles(times)}; the socket dump alone {(dumped ? Quartiles(dumpTimes) : "(not used below " + KeepAliveConnectionGauge.NetlinkFrom + ")")}; the rest, pair by pair {(dumped ? Quartiles(shares) : "-")} ({collections} collections)"));
            return 0;
        }
        finally
        {
            await benchmark.CleanupAsync();
        }
    }

    private static double Time(Action action)
    {
        var before = ThreadCpuTime();
        action();
        return (ThreadCpuTime() - before).TotalMilliseconds;
    }

    private static string Quartiles(double[] times)
    {
        Array.Sort(times);
        return string.Create(System.Globalization.CultureInfo.InvariantCulture,
            $"median {times[times.Length / 2]:F3} ms (quartiles {times[times.Length / 4]:F3}-{times[times.Length * 3 / 4]:F3}, min {times[0]:F3})");
    }

    private static TimeSpan ThreadCpuTime()
    {
        const int ClockThreadCpuTime = 3; // CLOCK_THREAD_CPUTIME_ID, linux/time.h
        if (ClockGetTime(ClockThreadCpuTime, out var now) != 0)
            throw new InvalidOperationException("clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed.");
        return TimeSpan.FromTicks(now.Seconds * TimeSpan.TicksPerSecond + now.Nanoseconds / 100);
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "clock_gettime")]
    private static extern int ClockGetTime(int clock, out TimeSpec time);

    private readonly struct TimeSpec
    {
        public readonly long Seconds;
        public readonly long Nanoseconds;
    }

    [Benchmark]
    public long Collect()
    {
        _observed = 0;
        _meterListener.RecordObservableInstruments();
        return _observed;
    }

    private async Task CleanupAsync()
    {
        _meterListener.Dispose();
        _clients.StandardInput.Close();
        await _clients.WaitForExitAsync();
        foreach (var connection in _accepted)
            await connection.DisposeAsync();
        _accepted.Clear();
        await _listener.DisposeAsync();
    }
}
