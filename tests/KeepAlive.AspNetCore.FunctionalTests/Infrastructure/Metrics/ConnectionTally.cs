using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace KeepAlive.AspNetCore.FunctionalTests.Infrastructure.Metrics;

/// <summary>
/// Running totals of what Kestrel's meter and the library's report for one server port: Kestrel's active
/// connections (<c>kestrel.active_connections</c>, an UpDownCounter) and the lost connections by cause.
/// Kept instead of a MetricCollector (Microsoft.Extensions.Diagnostics.Testing), which stores every measurement:
/// it keeps only sums and the time of the last change, so its memory does not grow with the connections it counts: the outage test compares the
/// managed heap before and after a thousand connections and must not see its own bookkeeping there.
/// </summary>
internal sealed class ConnectionTally : IDisposable
{
    private const string KestrelMeter = "Microsoft.AspNetCore.Server.Kestrel";
    private const string ActiveConnections = "kestrel.active_connections";
    private const string LostConnections = "keepalive.lost_connections";

    private readonly MeterListener _listener = new();
    private readonly Lock _lostLock = new();
    // error.type -> count: a handful of keys, filled on the first loss of each cause.
    private readonly Dictionary<string, long> _lostByCause = [];
    private long _active, _lost, _lastActiveDown, _lastLost;

    public ConnectionTally()
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if ((instrument.Meter.Name, instrument.Name) is (KestrelMeter, ActiveConnections) or (KeepAliveInstrumentation.MeterName, LostConnections))
                listener.EnableMeasurementEvents(instrument);
        };
        _listener.SetMeasurementEventCallback<long>(OnMeasurement);
        _listener.Start();
    }

    /// <summary>The port to count for; set once the host has bound it, before any connection.</summary>
    public int Port { get; set; }

    /// <summary>Kestrel's active connections on the port, now.</summary>
    public long Active => Interlocked.Read(ref _active);

    /// <summary><c>keepalive.lost_connections</c> on the port so far.</summary>
    public long Lost => Interlocked.Read(ref _lost);

    /// <summary>The <see cref="Stopwatch"/> timestamp of the last decrement of the active connections.</summary>
    public long LastActiveDown => Interlocked.Read(ref _lastActiveDown);

    /// <summary>The <see cref="Stopwatch"/> timestamp of the last lost connection counted.</summary>
    public long LastLost => Interlocked.Read(ref _lastLost);

    /// <summary>The lost connections so far by <c>error.type</c>, e.g. <c>keepalive_timeout=578</c>.</summary>
    public string LostByCause
    {
        get
        {
            lock (_lostLock)
                return string.Join(", ", _lostByCause.OrderBy(p => p.Key).Select(p => $"{p.Key}={p.Value}"));
        }
    }

    /// <summary>How many connections were lost with <paramref name="errorType"/>.</summary>
    public long LostWith(string errorType)
    {
        lock (_lostLock)
            return _lostByCause.GetValueOrDefault(errorType);
    }

    /// <summary>
    /// Waits, polling every 10 ms, until <paramref name="condition"/> holds; throws a <see cref="TimeoutException"/>
    /// saying what did not happen after <paramref name="timeout"/>.
    /// </summary>
    public async Task WaitUntilAsync(Func<ConnectionTally, bool> condition, TimeSpan timeout, string what, CancellationToken cancellationToken)
    {
        // Not Eventually: the outage benchmark compiles this file, without xunit.
        var started = Stopwatch.GetTimestamp();
        while (!condition(this))
        {
            if (Stopwatch.GetElapsedTime(started) > timeout)
                throw new TimeoutException($"{what} did not happen within {timeout.TotalSeconds:F0} s: active connections {Active}, lost {Lost} ({LostByCause}).");
            await Task.Delay(10, cancellationToken);
        }
    }

    public void Dispose() => _listener.Dispose();

    private void OnMeasurement(Instrument instrument, long value, ReadOnlySpan<KeyValuePair<string, object?>> tags, object? state)
    {
        string? errorType = null;
        var ours = false;
        foreach (var tag in tags)
        {
            if (tag.Key == "server.port")
                ours = tag.Value is int port && port == Port;
            else if (tag.Key == "error.type")
                errorType = tag.Value as string;
        }
        if (!ours)
            return;

        var now = Stopwatch.GetTimestamp();
        if (instrument.Name == ActiveConnections)
        {
            Interlocked.Add(ref _active, value);
            if (value < 0)
                InterlockedMax(ref _lastActiveDown, now);
            return;
        }

        Interlocked.Add(ref _lost, value);
        InterlockedMax(ref _lastLost, now);
        lock (_lostLock)
            _lostByCause[errorType ?? "(none)"] = _lostByCause.GetValueOrDefault(errorType ?? "(none)") + value;
    }

    private static void InterlockedMax(ref long location, long value)
    {
        for (var current = Interlocked.Read(ref location); current < value; current = Interlocked.Read(ref location))
        {
            if (Interlocked.CompareExchange(ref location, value, current) == current)
                return;
        }
    }
}
