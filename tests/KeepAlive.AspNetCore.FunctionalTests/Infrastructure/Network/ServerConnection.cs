using System.Diagnostics;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http;

namespace KeepAlive.AspNetCore.FunctionalTests.Infrastructure.Network;

/// <summary>
/// The server's side of one test connection, as the app sees it: when <c>RequestAborted</c> fired, and
/// the socket Kestrel accepted, for reading its TCP state.
/// </summary>
internal sealed class ServerConnection
{
    private readonly TaskCompletionSource<long> _aborted = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public ServerConnection(HttpContext context)
    {
        Socket = context.Features.Get<IConnectionSocketFeature>()?.Socket
            ?? throw new InvalidOperationException("The connection has no socket; the fault tests need Kestrel's Sockets transport.");
        // The callback runs inside Cancel, so the timestamp is the moment Kestrel aborted the request.
        context.RequestAborted.Register(() => _aborted.TrySetResult(Stopwatch.GetTimestamp()));
    }

    public Socket Socket { get; }

    /// <summary>Completes with the <see cref="Stopwatch"/> timestamp at which <c>RequestAborted</c> fired.</summary>
    public Task<long> Aborted => _aborted.Task;

    /// <summary>The socket's TCP_INFO, or <see langword="null"/> once Kestrel closed it.</summary>
    public TcpInfo? ReadTcpInfo() => TcpInfo.Read(Socket);

    /// <summary>
    /// Waits until the server has retransmitted on this connection: proof that its peer no longer
    /// acknowledges (a loopback peer acknowledges within microseconds; the first retransmission waits
    /// for the 200 ms minimum RTO). The kernel counts, it does not notify, hence the bounded polling.
    /// </summary>
    public Task<TcpInfo> WhenRetransmittingAsync() =>
        Eventually.ReadsAsync(
            () => Task.FromResult(ReadTcpInfo() ?? throw new InvalidOperationException("The server closed the connection.")),
            info => info.TotalRetransmits > 0, "the server retransmitting to its peer", TimeSpan.FromSeconds(5), state: info => $"{info}");
}
