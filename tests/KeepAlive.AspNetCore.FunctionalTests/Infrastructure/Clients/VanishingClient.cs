using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace KeepAlive.AspNetCore.FunctionalTests.Infrastructure.Clients;

/// <summary>
/// A raw TCP client, bound to its own loopback address, that speaks just enough HTTP/1.1 to open a
/// long-lived response and can then vanish for real: its packets stop arriving (a cable pulled, a NAT
/// entry dropped) or its host "reboots" and forgets the connection. Dispose restores the network.
/// </summary>
internal sealed class VanishingClient : IAsyncDisposable
{
    private static readonly TimeSpan NetworkTimeout = TimeSpan.FromSeconds(10);
    private readonly Socket _socket;
    private readonly Nftables _nftables;
    private readonly StringBuilder _received = new();

    private VanishingClient(Socket socket, IPEndPoint local)
    {
        _socket = socket;
        LocalEndPoint = local;
        // One table per client: its address is unique in the run, and so is the name.
        _nftables = new Nftables($"vanish_{local.Address.ToString().Replace('.', '_')}");
    }

    /// <summary>The client's address and port, as the server sees them.</summary>
    public IPEndPoint LocalEndPoint { get; }

    /// <summary>Everything received so far, as ASCII.</summary>
    public string Received => _received.ToString();

    /// <summary>Connects from a fresh loopback address (127.0.0.2 and up) to <paramref name="server"/>.</summary>
    public static async Task<VanishingClient> ConnectAsync(Uri server)
    {
        var endPoint = new IPEndPoint(IPAddress.Parse(server.Host), server.Port);
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            socket.Bind(new IPEndPoint(LoopbackAddresses.Next(), 0));
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
            timeout.CancelAfter(NetworkTimeout);
            await socket.ConnectAsync(endPoint, timeout.Token);
            return new VanishingClient(socket, (IPEndPoint)socket.LocalEndPoint!);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Sends <paramref name="request"/> and reads until the response holds <paramref name="expected"/>
    /// (e.g. the first event), so the server has written, and the client's kernel acknowledged, all of it.
    /// </summary>
    public async Task<string> SendAndReadUntilAsync(string request, string expected)
    {
        await _socket.SendAsync(Encoding.ASCII.GetBytes(request), TestContext.Current.CancellationToken);

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        timeout.CancelAfter(NetworkTimeout);
        var buffer = new byte[4096];
        while (!Received.Contains(expected, StringComparison.Ordinal))
        {
            int read;
            try
            {
                read = await _socket.ReceiveAsync(buffer, timeout.Token);
            }
            catch (OperationCanceledException) when (timeout.IsCancellationRequested)
            {
                throw new TimeoutException($"No '{Escape(expected)}' within {NetworkTimeout.TotalSeconds} s; received: '{Escape(Received)}'.");
            }
            if (read == 0)
                throw new InvalidOperationException($"The server closed the connection before '{Escape(expected)}'; received: '{Escape(Received)}'.");
            _received.Append(Encoding.ASCII.GetString(buffer, 0, read));
        }
        return Received;
    }

    /// <summary>
    /// Vanishes: from now on nothing reaches this client, so it neither acknowledges data nor answers
    /// keepalive probes, and sends no FIN or RST. Its socket stays open, as a crashed host's would.
    /// </summary>
    /// <returns>
    /// The <see cref="Stopwatch"/> timestamp at which the drop was in place (nft commits the rule and
    /// exits): the tests measure from here. The time nft takes to start, which a loaded machine
    /// stretches, is harness noise and is reported, not counted.
    /// </returns>
    public async Task<long> VanishAsync()
    {
        var start = Stopwatch.GetTimestamp();
        await _nftables.DropIncomingToAsync(LocalEndPoint.Address);
        var inPlace = Stopwatch.GetTimestamp();
        TestContext.Current.TestOutputHelper?.WriteLine($"nft: the drop took {Stopwatch.GetElapsedTime(start, inPlace).TotalSeconds:F3} s to go in");
        return inPlace;
    }

    /// <summary>
    /// Becomes unreachable: from now on the network answers what the server sends to this client with
    /// ICMP host-unreachable.
    /// </summary>
    /// <returns>The <see cref="Stopwatch"/> timestamp at which the rule was in place.</returns>
    public async Task<long> BecomeUnreachableAsync()
    {
        await _nftables.RejectIncomingToAsync(LocalEndPoint.Address);
        return Stopwatch.GetTimestamp();
    }

    /// <summary>
    /// "Reboots": the client's kernel forgets the connection without telling the server. Its packets are
    /// dropped while it closes abortively (SO_LINGER 0), which discards the connection and sends a reset
    /// that never arrives; then the drop is lifted, so the server's next packet is answered with a reset.
    /// </summary>
    /// <returns>The timestamps at which the client's kernel forgot the connection and at which the drop was lifted.</returns>
    public async Task<(long Forgotten, long Lifted)> RebootAsync()
    {
        await _nftables.DropOutgoingFromAsync(LocalEndPoint);
        _socket.LingerState = new LingerOption(true, 0);
        _socket.Dispose();
        var forgotten = Stopwatch.GetTimestamp();
        await _nftables.LiftAsync();
        return (forgotten, Stopwatch.GetTimestamp());
    }

    public async ValueTask DisposeAsync()
    {
        await _nftables.DisposeAsync();
        _socket.Dispose();
    }

    private static string Escape(string text) => text.Replace("\r", "\\r").Replace("\n", "\\n");
}
