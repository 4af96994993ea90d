using System.Buffers;
using System.Text.Encodings.Web;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Primitives;

namespace KeepAlive.AspNetCore;

/// <summary>
/// The connection view (<c>MapKeepAliveConnections</c>): every open connection under a policy as JSON, worst first
/// (<see cref="ConnectionState"/> in declaration order, then the longest silence), with what TCP_INFO says of its
/// peer and the bounds of its policy. <c>?state=probing</c> (repeated or comma-separated) keeps only those states.
/// </summary>
/// <remarks>
/// Written with <see cref="Utf8JsonWriter"/> straight into the response: no reflection-based serialization, so it
/// survives trimming, and no object per connection beyond its strings. Where TCP_INFO does not exist (not Linux) a
/// connection's state and TCP fields are <c>null</c>.
/// </remarks>
internal sealed class KeepAliveConnectionView(Func<KeepAlivePolicies> policies)
{
    private const string StateParameter = "state";
    // Hands the response to the transport every so many connections, so 10,000 of them need not sit in its buffer.
    private const int FlushEvery = 128;

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

    private int _lastCount;

    public async Task InvokeAsync(HttpContext context)
    {
        if (!TryReadFilter(context.Request.Query[StateParameter], out var filter, out var bad))
        {
            await WriteBadStateAsync(context.Response, bad);
            return;
        }

        var rows = ArrayPool<Row>.Shared.Rent(Math.Max(_lastCount, 16));
        var count = 0;
        try
        {
            using (var snapshot = OpenConnectionSnapshot.Take(policies(), _lastCount))
            {
                _lastCount = snapshot.Count;
                if (rows.Length < snapshot.Count)
                {
                    ArrayPool<Row>.Shared.Return(rows);
                    rows = ArrayPool<Row>.Shared.Rent(snapshot.Count);
                }
                foreach (var connection in snapshot.Connections)
                {
                    if (Read(connection) is { } row && (filter == 0 || row.State is { } state && (filter & (1 << (int)state)) != 0))
                        rows[count++] = row;
                }
            }
            rows.AsSpan(0, count).Sort(static (a, b) => a.CompareTo(b));

            var response = context.Response;
            response.ContentType = "application/json; charset=utf-8";
            // Live, and personal data (client addresses): no cache should keep it.
            response.Headers.CacheControl = "no-store";
            await using var writer = new Utf8JsonWriter(response.BodyWriter);
            writer.WriteStartObject();
            writer.WriteStartArray(s_connections);
            for (var i = 0; i < count; i++)
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
            rows.AsSpan(0, count).Clear();
            ArrayPool<Row>.Shared.Return(rows);
        }
    }

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
            writer.WriteNumber(s_rtt, info.RttMicroseconds / 1000.0);
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

    private static async Task WriteBadStateAsync(HttpResponse response, string bad)
    {
        response.StatusCode = StatusCodes.Status400BadRequest;
        response.ContentType = "application/problem+json; charset=utf-8";
        // Read by people with curl as much as by code: quotes and '&' as they are, not \u0027 (it is not HTML).
        await using var writer = new Utf8JsonWriter(response.BodyWriter, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
        writer.WriteStartObject();
        writer.WriteNumber("status", StatusCodes.Status400BadRequest);
        writer.WriteString("title", "Unknown connection state");
        writer.WriteString("detail", $"'{bad}' is not a connection state; the states are {ConnectionStateClassifier.AllowedValues} (?{StateParameter}=probing&{StateParameter}=retransmitting, or comma-separated).");
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
