using System.Buffers;
using System.Globalization;
using System.Text.Encodings.Web;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Primitives;

namespace KeepAlive.AspNetCore;

/// <summary>
/// The connection view (<c>MapKeepAliveConnections</c>): the open connections under a policy as JSON, worst first
/// (<see cref="ConnectionState"/> in declaration order, then the longest silence), at most <c>?limit=</c> of them (100 by
/// default), with what TCP_INFO says of each peer and the bounds of its policy, and how many matched and were left out.
/// <c>?state=probing</c> (repeated or comma-separated) keeps only those states.
/// </summary>
/// <remarks>
/// <para>
/// From <see cref="KeepAliveConnectionGauge.NetlinkFrom"/> open connections on, the states come from one socket dump, as
/// the gauge's do, with each timer's count (probes, retransmissions) to rank the connections within a state; TCP_INFO is
/// then read for the ones shown only. Below, one getsockopt each. So a request over many connections costs about one
/// gauge collection plus the rows it returns, and its response is bounded by the limit.
/// </para>
/// <para>
/// Written with <see cref="Utf8JsonWriter"/> straight into the response: no reflection-based serialization, so it
/// survives trimming, and no object per connection beyond its strings. Where TCP_INFO does not exist (not Linux) a
/// connection's state and TCP fields are <c>null</c>.
/// </para>
/// </remarks>
internal sealed class KeepAliveConnectionView(Func<KeepAlivePolicies> policies)
{
    private const string StateParameter = "state", LimitParameter = "limit";
    private const int DefaultLimit = 100, MaxLimit = 10_000;
    private const int MaxEcho = 40;
    // Hands the response to the transport every so many connections, so a large one need not sit in its buffer.
    private const int FlushEvery = 128;

    private static readonly JsonEncodedText s_count = JsonEncodedText.Encode("count");
    private static readonly JsonEncodedText s_omitted = JsonEncodedText.Encode("omitted");
    private static readonly JsonEncodedText s_connections = JsonEncodedText.Encode("connections");
    private static readonly JsonEncodedText s_connectionId = JsonEncodedText.Encode("connectionId");
    private static readonly JsonEncodedText s_remoteEndPoint = JsonEncodedText.Encode("remoteEndPoint");
    private static readonly JsonEncodedText s_localEndPoint = JsonEncodedText.Encode("localEndPoint");
    private static readonly JsonEncodedText s_policy = JsonEncodedText.Encode("policy");
    private static readonly JsonEncodedText s_state = JsonEncodedText.Encode("state");
    private static readonly JsonEncodedText s_silence = JsonEncodedText.Encode("silence");
    private static readonly JsonEncodedText s_lastDataReceived = JsonEncodedText.Encode("lastDataReceived");
    private static readonly JsonEncodedText s_rtt = JsonEncodedText.Encode("rtt");
    private static readonly JsonEncodedText s_probes = JsonEncodedText.Encode("probes");
    private static readonly JsonEncodedText s_retransmits = JsonEncodedText.Encode("retransmits");
    private static readonly JsonEncodedText s_unsentBytes = JsonEncodedText.Encode("unsentBytes");
    private static readonly JsonEncodedText s_bounds = JsonEncodedText.Encode("bounds");
    private static readonly JsonEncodedText s_silentIdlePeer = JsonEncodedText.Encode("silentIdlePeer");
    private static readonly JsonEncodedText s_unacknowledgedData = JsonEncodedText.Encode("unacknowledgedData");
    private static readonly JsonEncodedText s_stalledReader = JsonEncodedText.Encode("stalledReader");

    // Requests take turns: the socket dump's reader is one, and two views at once would each walk every connection.
    private readonly SemaphoreSlim _turn = new(1, 1);
    private readonly ConnectionStateReader _reader = new();
    private int _lastCount;

    public async Task InvokeAsync(HttpContext context)
    {
        if (!TryReadFilter(context.Request.Query[StateParameter], out var filter, out var bad))
        {
            await WriteBadRequestAsync(context.Response, "Unknown connection state",
                $"'{Echo(bad)}' is not a connection state; the states are {ConnectionStateClassifier.AllowedValues} (?{StateParameter}=probing&{StateParameter}=retransmitting, or comma-separated).");
            return;
        }
        if (!TryReadLimit(context.Request.Query[LimitParameter], out var limit))
        {
            await WriteBadRequestAsync(context.Response, "Bad limit",
                $"'{Echo(context.Request.Query[LimitParameter].ToString())}' is not a limit; ?{LimitParameter}= takes a whole number from 1 to {MaxLimit} (default {DefaultLimit}).");
            return;
        }

        Row[] rows;
        int count, shown;
        await _turn.WaitAsync(context.RequestAborted);
        try
        {
            (rows, count, shown) = Select(filter, limit);
        }
        finally
        {
            _turn.Release();
        }
        try
        {
            var response = context.Response;
            response.ContentType = "application/json; charset=utf-8";
            // Live, and personal data (client addresses): no cache should keep it.
            response.Headers.CacheControl = "no-store";
            await using var writer = new Utf8JsonWriter(response.BodyWriter);
            writer.WriteStartObject();
            writer.WriteNumber(s_count, count);
            writer.WriteNumber(s_omitted, count - shown);
            writer.WriteStartArray(s_connections);
            for (var i = 0; i < shown; i++)
            {
                Write(writer, rows[i]);
                if (i % FlushEvery == FlushEvery - 1)
                {
                    writer.Flush();
                    await response.BodyWriter.FlushAsync(context.RequestAborted);
                }
            }
            writer.WriteEndArray();
            writer.WriteEndObject();
            writer.Flush();
        }
        finally
        {
            rows.AsSpan(0, shown).Clear();
            ArrayPool<Row>.Shared.Return(rows);
        }
    }

    // The worst `limit` connections of those `filter` keeps, in order, and how many it kept: from one socket dump where
    // there are many (TCP_INFO then read for those shown), from getsockopt each where there are few.
    private (Row[] Rows, int Count, int Shown) Select(int filter, int limit)
    {
        using var snapshot = OpenConnectionSnapshot.Take(policies().Open, _lastCount);
        _lastCount = snapshot.Count;
        var connections = snapshot.Connections;
        var rows = ArrayPool<Row>.Shared.Rent(Math.Max(Math.Min(connections.Length, limit), 16));
        if (connections.Length < KeepAliveConnectionGauge.NetlinkFrom || !InetDiagTcpDump.IsAvailable)
        {
            var all = ArrayPool<Row>.Shared.Rent(Math.Max(connections.Length, 16));
            var kept = 0;
            foreach (var connection in connections)
            {
                if (Read(connection) is { } row && Keeps(filter, row.State))
                    all[kept++] = row;
            }
            all.AsSpan(0, kept).Sort(static (a, b) => a.CompareTo(b));
            var shown = Math.Min(kept, limit);
            all.AsSpan(0, shown).CopyTo(rows);
            all.AsSpan(0, kept).Clear();
            ArrayPool<Row>.Shared.Return(all);
            return (rows, kept, shown);
        }

        var states = ArrayPool<ConnectionState?>.Shared.Rent(connections.Length);
        var counts = ArrayPool<byte>.Shared.Rent(connections.Length);
        var candidates = ArrayPool<(int Rank, int Index)>.Shared.Rent(connections.Length);
        try
        {
            _reader.Read(connections, states, useNetlink: true, counts);
            var matched = 0;
            for (var i = 0; i < connections.Length; i++)
            {
                if (states[i] is { } state && Keeps(filter, state))
                    candidates[matched++] = (Rank((int)state, counts[i]), i);
            }
            // The worst first: by state, then by probes or retransmissions unanswered (the longer silent, the more).
            candidates.AsSpan(0, matched).Sort(static (a, b) => a.Rank.CompareTo(b.Rank));
            var shown = 0;
            for (var c = 0; c < matched && shown < limit; c++)
            {
                if (Read(connections[candidates[c].Index]) is { } row)
                    rows[shown++] = row;
            }
            rows.AsSpan(0, shown).Sort(static (a, b) => a.CompareTo(b));
            return (rows, matched, shown);
        }
        finally
        {
            ArrayPool<ConnectionState?>.Shared.Return(states);
            ArrayPool<byte>.Shared.Return(counts);
            ArrayPool<(int, int)>.Shared.Return(candidates);
        }
    }

    private static int Rank(int state, byte count) => state * 256 + (255 - count);

    private static bool Keeps(int filter, ConnectionState? state) => filter == 0 || state is { } s && (filter & (1 << (int)s)) != 0;

    // Null for a connection closed while we looked (it is on its way out of the list), as the gauge counts them.
    private static Row? Read(KeepAliveConnection connection)
    {
        if (ConnectionStateClassifier.TryRead(connection.Socket, out var info, out var state))
            return new Row(connection, info, state);
        return OperatingSystem.IsLinux() ? null : new Row(connection, null, null);
    }

    private static void Write(Utf8JsonWriter writer, in Row row)
    {
        var connection = row.Connection;
        var policy = connection.Policy;
        writer.WriteStartObject();
        writer.WriteString(s_connectionId, connection.ConnectionId);
        writer.WriteString(s_remoteEndPoint, connection.RemoteEndPoint?.ToString());
        writer.WriteString(s_localEndPoint, connection.LocalEndPoint?.ToString());
        writer.WriteString(s_policy, policy.Name);
        if (row.Info is { } info)
        {
            writer.WriteString(s_state, row.State!.Value.ToAttribute());
            // The peer's last sign of life, acknowledgements of keepalive probes included: the silence the kernel judges
            // and keepalive.lost_connection.silence records.
            writer.WriteNumber(s_silence, info.LastAckReceivedMilliseconds / 1000.0);
            writer.WriteNumber(s_lastDataReceived, info.LastDataReceivedMilliseconds / 1000.0);
            writer.WriteNumber(s_rtt, info.RttMicroseconds / 1_000_000.0);
            writer.WriteNumber(s_probes, info.Probes);
            writer.WriteNumber(s_retransmits, info.Retransmits);
            writer.WriteNumber(s_unsentBytes, info.NotSentBytes);
        }
        else
        {
            foreach (var name in (ReadOnlySpan<JsonEncodedText>)[s_state, s_silence, s_lastDataReceived, s_rtt, s_probes, s_retransmits, s_unsentBytes])
                writer.WriteNull(name);
        }
        var bounds = policy.Bounds;
        writer.WriteStartObject(s_bounds);
        WriteSeconds(writer, s_silentIdlePeer, bounds.SilentIdlePeer);
        WriteSeconds(writer, s_unacknowledgedData, bounds.UnacknowledgedData);
        WriteSeconds(writer, s_stalledReader, bounds.StalledReader);
        writer.WriteEndObject();
        writer.WriteEndObject();
    }

    // Unbounded: null.
    private static void WriteSeconds(Utf8JsonWriter writer, JsonEncodedText name, TimeSpan? value)
    {
        if (value is { } seconds)
            writer.WriteNumber(name, seconds.TotalSeconds);
        else
            writer.WriteNull(name);
    }

    // The states asked for as bits of ConnectionState (0: all), or the first value that is none.
    private static bool TryReadFilter(StringValues values, out int filter, out string bad)
    {
        filter = 0;
        bad = "";
        foreach (var value in values)
        {
            foreach (var part in (value ?? "").Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
            {
                if (!ConnectionStateClassifier.TryParse(part, out var state))
                {
                    bad = part;
                    return false;
                }
                filter |= 1 << (int)state;
            }
        }
        return true;
    }

    // 1 to MaxLimit, DefaultLimit when absent.
    private static bool TryReadLimit(StringValues values, out int limit)
    {
        limit = DefaultLimit;
        return values.Count == 0 ||
            values.Count == 1 && int.TryParse(values[0], NumberStyles.None, CultureInfo.InvariantCulture, out limit) && limit is >= 1 and <= MaxLimit;
    }

    // The caller's query, of any length, echoed bounded.
    private static string Echo(string value) => value.Length <= MaxEcho ? value : value[..MaxEcho] + "...";

    private static async Task WriteBadRequestAsync(HttpResponse response, string title, string detail)
    {
        response.StatusCode = StatusCodes.Status400BadRequest;
        response.ContentType = "application/problem+json; charset=utf-8";
        // Read by people with curl as much as by code: quotes and '&' as they are, not \u0027 (it is not HTML).
        await using var writer = new Utf8JsonWriter(response.BodyWriter, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
        writer.WriteStartObject();
        writer.WriteNumber("status", StatusCodes.Status400BadRequest);
        writer.WriteString("title", title);
        writer.WriteString("detail", detail);
        writer.WriteEndObject();
    }

    // Info and State: null where TCP_INFO does not exist.
    private readonly record struct Row(KeepAliveConnection Connection, TcpConnectionInfo? Info, ConnectionState? State) : IComparable<Row>
    {
        // Worst state first, then the longest silence; without TCP_INFO, as they come.
        public int CompareTo(Row other) =>
            State != other.State ? (int)(State ?? ConnectionState.Responsive) - (int)(other.State ?? ConnectionState.Responsive) :
            (other.Info?.LastAckReceivedMilliseconds ?? 0).CompareTo(Info?.LastAckReceivedMilliseconds ?? 0);
    }
}
