using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace KeepAlive.AspNetCore;

/// <summary>
/// The library's instruments, on the meter <see cref="KeepAliveInstrumentation.MeterName"/>, in the
/// shape of Kestrel's own <c>KestrelMetrics</c>: created once through <see cref="IMeterFactory"/>,
/// each recording gated on <see cref="Instrument.Enabled"/>.
/// </summary>
internal sealed class KeepAliveMetrics
{
    private readonly Counter<long> _appliedConnections;
    private readonly Counter<long> _lostConnections;
    private readonly Histogram<double> _lostConnectionSilence;
    private readonly Counter<long> _policyErrors;
    private readonly Meter _meter;

    public KeepAliveMetrics(IMeterFactory meterFactory)
    {
        var meter = _meter = meterFactory.Create(KeepAliveInstrumentation.MeterName);

        _appliedConnections = meter.CreateCounter<long>(
            "keepalive.applied_connections",
            unit: "{connection}",
            description: "Accepted TCP connections the keepalive policy was applied to.");

        _lostConnections = meter.CreateCounter<long>(
            "keepalive.lost_connections",
            unit: "{connection}",
            description: "Connections the kernel ended because the peer stopped answering, or answered a keepalive probe with a reset.");

        _lostConnectionSilence = meter.CreateHistogram<double>(
            "keepalive.lost_connection.silence",
            unit: "s",
            description: "For each lost connection, the time from the peer's last sign of life (anything it sent, acknowledgements of keepalive probes included) until the kernel gave up on it: how long a dead or stalled peer held the connection.",
            advice: new InstrumentAdvice<double>
            {
                // From seconds (an aggressive policy) to the kernel's default 2 h 11 min.
                HistogramBucketBoundaries = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 10800],
            });

        _policyErrors = meter.CreateCounter<long>(
            "keepalive.policy_errors",
            unit: "{error}",
            description: "Socket options of the keepalive policy that could not be applied to a connection.");
    }

    /// <summary>
    /// Creates <c>keepalive.connections</c>, which <paramref name="observe"/> reads when the meter is collected
    /// (<see cref="KeepAliveConnectionGauge"/>).
    /// </summary>
    public void ObserveConnections(Func<IEnumerable<Measurement<long>>> observe) =>
        _meter.CreateObservableUpDownCounter(
            "keepalive.connections",
            observe,
            unit: "{connection}",
            description: "Open connections under a keepalive policy, by how the peer is answering (TCP_INFO, read when collected): responsive, probing (keepalive probes unanswered), retransmitting (sent data unacknowledged), zero_window (the peer stopped reading).");

    /// <summary>
    /// Makes the counters of a policy on an endpoint exist at zero, once, before anything happens to them: a backend
    /// that first sees a series at 1 has no increase to show (Prometheus' <c>increase()</c> and <c>rate()</c> would miss
    /// the first loss of every cause). Nothing is marked while no one listens, so a listener that comes later gets them.
    /// </summary>
    public void Announce(KeepAliveEndpoint endpoint, string policyName)
    {
        if (!_lostConnections.Enabled || !endpoint.TryAnnounce(policyName))
            return;
        var tags = endpoint.Tags(policyName);
        _appliedConnections.Add(0, tags);
        foreach (var cause in LostConnectionClassifier.Causes)
        {
            var causeTags = tags;
            causeTags.Add("error.type", cause.ToErrorType());
            _lostConnections.Add(0, causeTags);
        }
    }

    public void ConnectionApplied(KeepAliveEndpoint endpoint, string policyName)
    {
        Announce(endpoint, policyName);
        if (_appliedConnections.Enabled)
        {
            var tags = endpoint.Tags(policyName);
            _appliedConnections.Add(1, tags);
        }
    }

    public void PolicyError(KeepAliveEndpoint endpoint, string policyName, string option, string error)
    {
        if (_policyErrors.Enabled)
        {
            var tags = endpoint.Tags(policyName);
            tags.Add("keepalive.option", option);
            tags.Add("error.type", error);
            _policyErrors.Add(1, tags);
        }
    }

    public void ConnectionLost(KeepAliveEndpoint endpoint, string policyName, LostConnectionCause cause, TimeSpan? silence)
    {
        if (!_lostConnections.Enabled && !_lostConnectionSilence.Enabled)
            return;
        var tags = endpoint.Tags(policyName);
        tags.Add("error.type", cause.ToErrorType());
        _lostConnections.Add(1, tags);
        if (silence is { } value)
            _lostConnectionSilence.Record(value.TotalSeconds, tags);
    }
}
