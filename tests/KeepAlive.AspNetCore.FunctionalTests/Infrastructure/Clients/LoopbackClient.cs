using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;

namespace KeepAlive.AspNetCore.FunctionalTests.Infrastructure.Clients;

/// <summary>
/// HTTP clients for the read-back tests: loopback only, no proxy, every call bounded. Each client owns its
/// connections, so a new client means a new TCP connection and a new accepted server socket to read.
/// </summary>
internal static class LoopbackClient
{
    // Generous for a 2-core machine shared with parallel builds; a healthy request takes milliseconds.
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    public static HttpClient Create(Action<SocketsHttpHandler>? configure = null)
    {
        // No proxy: a proxy from the environment would make the server see the proxy's socket, not ours.
        var handler = new SocketsHttpHandler { UseProxy = false, ConnectTimeout = Timeout };
        configure?.Invoke(handler);
        return new HttpClient(handler) { Timeout = Timeout };
    }

    /// <summary>A client that trusts exactly <paramref name="certificate"/> (a self-signed test certificate).</summary>
    public static HttpClient Trusting(X509Certificate2 certificate) => Create(handler =>
        handler.SslOptions = new SslClientAuthenticationOptions
        {
            RemoteCertificateValidationCallback = (_, presented, _, _) =>
                presented is not null && presented.GetRawCertData().AsSpan().SequenceEqual(certificate.RawData),
        });

    /// <summary>A client whose every connection goes to the Unix domain socket at <paramref name="path"/>.</summary>
    public static HttpClient ForUnixSocket(string path) => Create(handler =>
        handler.ConnectCallback = async (_, cancellationToken) =>
        {
            var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            try
            {
                await socket.ConnectAsync(new UnixDomainSocketEndPoint(path), cancellationToken);
                return new NetworkStream(socket, ownsSocket: true);
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        });

    /// <summary>
    /// GETs <c>/socket</c> (the server-side socket's options as the kernel holds them) with exactly
    /// <paramref name="version"/>, failing with the server's answer when it is not a success.
    /// </summary>
    public static Task<KernelSocketOptions> ReadServerSocketAsync(HttpClient client, Uri address, Version? version = null) =>
        SocketReadBack.ReadAsync(client, address, "/socket", version);

    /// <summary>Reads <c>/socket</c> on a connection of its own.</summary>
    public static Task<KernelSocketOptions> ReadOnNewConnectionAsync(Uri address) => SocketReadBack.ReadOnNewConnectionAsync(address);
}
