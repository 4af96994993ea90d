using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace KeepAlive.AspNetCore.FunctionalTests.Infrastructure.Clients;

/// <summary>
/// A WebSocket client on a plain socket that shows what <see cref="System.Net.WebSockets.ClientWebSocket"/> hides: the
/// control frames the server sends (PING, PONG) and when they arrive. It answers nothing by itself, so a server that
/// expects a PONG (.NET's KeepAliveTimeout) sees a peer that stopped answering.
/// </summary>
internal sealed class RawWebSocket : IDisposable
{
    public const int Text = 0x1, Close = 0x8, Ping = 0x9, Pong = 0xA;
    private readonly Socket _socket;
    private readonly List<byte> _pending = [];

    private RawWebSocket(Socket socket) => _socket = socket;

    /// <summary>Opens <paramref name="path"/> with the RFC 6455 handshake and checks the 101 answer.</summary>
    public static async Task<RawWebSocket> ConnectAsync(Uri server, string path)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        var client = new RawWebSocket(socket);
        try
        {
            await socket.ConnectAsync(new IPEndPoint(IPAddress.Parse(server.Host), server.Port), TestContext.Current.CancellationToken);
            var key = Convert.ToBase64String(Guid.NewGuid().ToByteArray());
            await socket.SendAsync(Encoding.ASCII.GetBytes(
                $"GET {path} HTTP/1.1\r\nHost: {server.Authority}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
                $"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"), TestContext.Current.CancellationToken);
            var head = await client.ReadHeadAsync();
            Assert.StartsWith("HTTP/1.1 101", head, StringComparison.Ordinal);
            return client;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>Sends one masked text frame (a client must mask).</summary>
    public Task SendTextAsync(string text)
    {
        var payload = Encoding.UTF8.GetBytes(text);
        if (payload.Length > 125)
            throw new ArgumentException("One short frame only.", nameof(text));
        var mask = new byte[] { 0x12, 0x34, 0x56, 0x78 };
        var frame = new byte[2 + 4 + payload.Length];
        frame[0] = 0x80 | Text;
        frame[1] = (byte)(0x80 | payload.Length);
        mask.CopyTo(frame, 2);
        for (var i = 0; i < payload.Length; i++)
            frame[6 + i] = (byte)(payload[i] ^ mask[i % 4]);
        return _socket.SendAsync(frame, TestContext.Current.CancellationToken).AsTask();
    }

    /// <summary>
    /// Reads frames for <paramref name="duration"/>, or until the server ends the connection: each frame's opcode and
    /// when it arrived (<see cref="Stopwatch"/> timestamps), and whether the connection ended (with when).
    /// </summary>
    public async Task<(List<(int Opcode, long At, string Payload)> Frames, long? EndedAt)> ReadForAsync(TimeSpan duration)
    {
        var frames = new List<(int, long, string)>();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        timeout.CancelAfter(duration);
        var buffer = new byte[4096];
        try
        {
            while (true)
            {
                while (TryTakeFrame(out var opcode, out var payload))
                    frames.Add((opcode, Stopwatch.GetTimestamp(), Encoding.UTF8.GetString(payload)));
                var read = await _socket.ReceiveAsync(buffer, timeout.Token);
                if (read == 0)
                    return (frames, Stopwatch.GetTimestamp());
                _pending.AddRange(buffer.AsSpan(0, read).ToArray());
            }
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested && !TestContext.Current.CancellationToken.IsCancellationRequested)
        {
            return (frames, null);
        }
        catch (SocketException)
        {
            // A reset (Kestrel closes an aborted connection with linger 0).
            return (frames, Stopwatch.GetTimestamp());
        }
    }

    public void Dispose() => _socket.Dispose();

    private async Task<string> ReadHeadAsync()
    {
        var buffer = new byte[1024];
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(10));
        while (true)
        {
            var text = Encoding.ASCII.GetString([.. _pending]);
            var end = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
            if (end >= 0)
            {
                _pending.RemoveRange(0, end + 4);
                return text[..end];
            }
            var read = await _socket.ReceiveAsync(buffer, timeout.Token);
            Assert.True(read > 0, $"The server closed the connection during the handshake: '{text}'");
            _pending.AddRange(buffer.AsSpan(0, read).ToArray());
        }
    }

    // A server frame: FIN and opcode, then an unmasked length (7 bits, or 16 or 64 after 126 or 127), then the payload.
    private bool TryTakeFrame(out int opcode, out byte[] payload)
    {
        opcode = 0;
        payload = [];
        if (_pending.Count < 2)
            return false;
        long length = _pending[1] & 0x7f;
        var header = 2;
        if (length == 126)
        {
            if (_pending.Count < 4) return false;
            length = (_pending[2] << 8) | _pending[3];
            header = 4;
        }
        else if (length == 127)
        {
            if (_pending.Count < 10) return false;
            length = 0;
            for (var i = 2; i < 10; i++)
                length = (length << 8) | _pending[i];
            header = 10;
        }
        if (_pending.Count < header + length)
            return false;
        opcode = _pending[0] & 0x0f;
        payload = [.. _pending.Skip(header).Take((int)length)];
        _pending.RemoveRange(0, header + (int)length);
        return true;
    }
}
