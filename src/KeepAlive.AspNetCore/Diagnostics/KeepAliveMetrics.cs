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
    // From seconds (an aggressive policy) to the kernel's default 2 h 11 min: where no bound in force says better.
    private static readonly double[] s_coarseSilences = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 10800];
    // A lost peer's silence is its bound plus a little (a timer's firing, a retransmission timeout): fine buckets from the
    // bound up, 5 % wide, so that a dashboard's quantile, interpolated in its bucket, is within 5 % of the silence.
    private static readonly double[] s_aboveBound = [1, 1.05, 1.1, 1.15, 1.2, 1.25, 1.3];

    private readonly Counter<long> _appliedConnections;
    private readonly Counter<long> _lostConnections;
    private Histogram<double>? _lostConnectionSilence;
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
            description: "Connections lost because the peer stopped answering (or answered a keepalive probe with a reset), by error.type: ended by the kernel's TCP timers (tcp_*) or by a timer above TCP, the app's, its framework's or Kestrel's (app_*).");

        _policyErrors = meter.CreateCounter<long>(
            "keepalive.policy_errors",
            unit: "{error}",
            description: "Socket options of the keepalive policy that could not be applied to a connection.");
    }

    /// <summary>
    /// Creates <c>keepalive.lost_connection.silence</c> with bucket boundaries around <paramref name="expected"/>, the
    /// silences after which the policies and the app's timers let a peer go (their bounds), from each up to 30 % above
    /// it in 5 % steps, over a coarse scale for the rest. Boundaries on the bounds themselves would put every lost
    /// peer's silence, a little above its bound, in a bucket as wide as the next bound: a dashboard then shows 30 s for
    /// 20.3 s. Once per meter: the first call sets them (later policies, a reload, keep those).
    /// </summary>
    public void CreateSilenceHistogram(IEnumerable<TimeSpan> expected)
    {
        // One instrument of that name, whoever asks first: under a lock, as it happens once.
        lock (_meter)
        {
            _lostConnectionSilence ??= _meter.CreateHistogram<double>(
                "keepalive.lost_connection.silence",
                unit: "s",
                description: "For each lost connection, the time from the peer's last sign of life (anything it sent, acknowledgements of probes included) until its connection was ended: how long a dead or stalled peer held it.",
                advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = SilenceBoundaries(expected) });
        }
    }

    /// <summary>The boundaries <see cref="CreateSilenceHistogram"/> uses, in seconds, ascending.</summary>
    internal static double[] SilenceBoundaries(IEnumerable<TimeSpan> expected) =>
        [.. s_coarseSilences
            .Concat(expected.Where(e => e > TimeSpan.Zero).SelectMany(e => s_aboveBound.Select(f => Math.Round(e.TotalSeconds * f, 3))))
            .Distinct()
            .Order()];

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
    public void CreateSeries(KeepAliveEndpoint endpoint, string policyName)
    {
        if (!_lostConnections.Enabled || !endpoint.TryMarkSeriesCreated(policyName))
            return;
        var tags = endpoint.Tags(policyName);
        _appliedConnections.Add(0, tags);
        foreach (var cause in LostConnectionClassifier.Causes)
        {
            var causeTags = tags;
            causeTags.Add(KeepAliveTags.ErrorType, cause.ToErrorType());
            _lostConnections.Add(0, causeTags);
        }
    }

    public void ConnectionApplied(KeepAliveEndpoint endpoint, string policyName)
    {
        CreateSeries(endpoint, policyName);
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
            tags.Add(KeepAliveTags.Option, option);
            tags.Add(KeepAliveTags.ErrorType, error);
            _policyErrors.Add(1, tags);
        }
    }

    public void ConnectionLost(KeepAliveEndpoint endpoint, string policyName, LostConnectionCause cause, TimeSpan? silence)
    {
        if (Volatile.Read(ref _lostConnectionSilence) is not { } silenceHistogram)
        {
            CreateSilenceHistogram([]); // policies made in code alone: the coarse scale
            silenceHistogram = _lostConnectionSilence!;
        }
        if (!_lostConnections.Enabled && !silenceHistogram.Enabled)
            return;
        var tags = endpoint.Tags(policyName);
        tags.Add(KeepAliveTags.ErrorType, cause.ToErrorType());
        _lostConnections.Add(1, tags);
        if (silence is { } value)
            silenceHistogram.Record(value.TotalSeconds, tags);
    }
}
