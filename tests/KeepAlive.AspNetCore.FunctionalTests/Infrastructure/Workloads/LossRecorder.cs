using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace KeepAlive.AspNetCore.FunctionalTests.Infrastructure.Workloads;

/// <summary>
/// What one server port reports, as an operator's dashboard would read it: Kestrel's open connections
/// (<c>kestrel.active_connections</c>) with the moment each one closed, and each lost connection the library counted
/// (<c>keepalive.lost_connections</c>), with its cause and the moment it was counted. A few dozen connections a test.
/// </summary>
internal sealed class LossRecorder : IDisposable
{
    private const string KestrelMeter = "Microsoft.AspNetCore.Server.Kestrel";

    private readonly MeterListener _listener = new();
    private readonly Lock _lock = new();
    private readonly List<long> _closed = [];
    private readonly List<(long At, string Cause)> _lost = [];
    private long _active;

    public LossRecorder(int port)
    {
        Port = port;
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if ((instrument.Meter.Name, instrument.Name) is (KestrelMeter, "kestrel.active_connections") or (KeepAliveInstrumentation.MeterName, "keepalive.lost_connections"))
                listener.EnableMeasurementEvents(instrument);
        };
        _listener.SetMeasurementEventCallback<long>(OnMeasurement);
        _listener.Start();
    }

    public int Port { get; }

    /// <summary>Kestrel's open connections on the port, now.</summary>
    public long Active
    {
        get
        {
            lock (_lock)
                return _active;
        }
    }

    /// <summary>The <see cref="Stopwatch"/> timestamps at which Kestrel closed a connection, in order.</summary>
    public List<long> Closed
    {
        get
        {
            lock (_lock)
                return [.. _closed];
        }
    }

    /// <summary>Each lost connection counted: when, and its <c>error.type</c>.</summary>
    public List<(long At, string Cause)> Lost
    {
        get
        {
            lock (_lock)
                return [.. _lost];
        }
    }

    /// <summary>The lost connections by cause, e.g. <c>app_timeout=50</c>.</summary>
    public string LostByCause => string.Join(", ", Lost.GroupBy(l => l.Cause).OrderBy(g => g.Key).Select(g => $"{g.Key}={g.Count()}"));

    public void Dispose() => _listener.Dispose();

    private void OnMeasurement(Instrument instrument, long value, ReadOnlySpan<KeyValuePair<string, object?>> tags, object? state)
    {
        if (value == 0)
            return; // the series created at zero
        string? cause = null;
        var ours = false;
        foreach (var tag in tags)
        {
            if (tag.Key == "server.port")
                ours = tag.Value is int port && port == Port;
            else if (tag.Key == "error.type")
                cause = tag.Value as string;
        }
        if (!ours)
            return;
        var now = Stopwatch.GetTimestamp();
        lock (_lock)
        {
            if (instrument.Name == "kestrel.active_connections")
            {
                _active += value;
                if (value < 0)
                    _closed.Add(now);
            }
            else
            {
                for (var i = 0; i < value; i++)
                    _lost.Add((now, cause ?? "(none)"));
            }
        }
    }
}
