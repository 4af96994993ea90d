using System.Buffers;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Runtime.InteropServices;

namespace KeepAlive.AspNetCore;

/// <summary>
/// <c>keepalive.connections</c>: the open connections under a policy by <see cref="ConnectionState"/>, read from the
/// kernel when the meter is collected (<see cref="ConnectionStateReader"/>), so it costs nothing between collections and nothing per connection or request.
/// </summary>
/// <remarks>
/// Every state of every endpoint and policy that has had connections is reported, at zero too, in every collection:
/// a series an observable instrument stops reporting keeps its last value in a cumulative export, so 40 connections
/// probing would stay on the dashboard after the kernel let them go, and a backend that first sees a series at 40 has
/// no rise to alert on. A collection allocates per series (its measurements), never per connection.
/// </remarks>
internal sealed class KeepAliveConnectionGauge(OpenConnections open)
{
    // Where TCP_INFO does not exist, only the total, without the state attribute.
    private static readonly bool s_hasStates = OperatingSystem.IsLinux();

    // Two exporters may collect at once; each collection walks every connection, so they take turns.
    private readonly Lock _lock = new();
    private readonly Dictionary<(KeepAliveEndpoint Endpoint, string Policy), Series> _series = [];
    // The states of every connection in one NETLINK_SOCK_DIAG dump rather than a getsockopt each (see its remarks).
    private readonly ConnectionStateReader _reader = new();

    // A dump walks the kernel's whole table of TCP sockets, a fixed cost, then little per socket; a getsockopt costs a
    // system call per connection: the dump pays from about a thousand connections (docs/benchmarks.md).
    internal const int NetlinkFrom = 1000;
    private int _lastCount;

    public IEnumerable<Measurement<long>> Collect()
    {
        lock (_lock)
        {
            foreach (var series in _series.Values)
                Array.Clear(series.Counts);

            using var snapshot = OpenConnectionSnapshot.Take(open, _lastCount);
            _lastCount = snapshot.Count;
            var connections = snapshot.Connections;
            var states = s_hasStates ? ArrayPool<ConnectionState?>.Shared.Rent(connections.Length) : null;
            try
            {
                if (states is not null)
                    _reader.Read(connections, states, useNetlink: connections.Length >= NetlinkFrom);

                Series? last = null;
                for (var i = 0; i < connections.Length; i++)
                {
                    // Connections of one endpoint and policy tend to follow each other: most need no lookup.
                    var connection = connections[i];
                    var endpoint = connection.Endpoint;
                    var policy = connection.Policy.Name;
                    var series = last is not null && last.Endpoint == endpoint && ReferenceEquals(last.Policy, policy) ? last : Find(endpoint, policy);
                    last = series;
                    if (states is null)
                        series.Counts[0]++;
                    else if (states[i] is { } state)
                        series.Counts[(int)state]++;
                    // else: closed while we looked, on its way out of the list.
                }
            }
            finally
            {
                if (states is not null)
                    ArrayPool<ConnectionState?>.Shared.Return(states);
            }

            var measurements = new Measurement<long>[_series.Count * (s_hasStates ? ConnectionStateClassifier.States.Count : 1)];
            var m = 0;
            foreach (var series in _series.Values)
            {
                for (var state = 0; state < series.Counts.Length; state++)
                    measurements[m++] = new Measurement<long>(series.Counts[state], series.Tags[state]);
            }
            return measurements;
        }
    }

    private Series Find(KeepAliveEndpoint endpoint, string policy)
    {
        ref var series = ref CollectionsMarshal.GetValueRefOrAddDefault(_series, (endpoint, policy), out _);
        return series ??= new Series(endpoint, policy);
    }

    /// <summary>The counts of one endpoint and policy, by state (indexed by <see cref="ConnectionState"/>), and their attributes.</summary>
    private sealed class Series
    {
        public Series(KeepAliveEndpoint endpoint, string policy)
        {
            Endpoint = endpoint;
            Policy = policy;
            if (s_hasStates)
            {
                Tags = new TagList[ConnectionStateClassifier.States.Count];
                foreach (var state in ConnectionStateClassifier.States)
                {
                    var tags = endpoint.Tags(policy);
                    tags.Add(KeepAliveTags.ConnectionState, state.ToAttribute());
                    Tags[(int)state] = tags;
                }
            }
            else
            {
                Tags = [endpoint.Tags(policy)];
            }
            Counts = new long[Tags.Length];
        }

        public KeepAliveEndpoint Endpoint { get; }

        public string Policy { get; }

        public TagList[] Tags { get; }

        public long[] Counts { get; }
    }
}
