using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text.Json;
using KeepAlive.AspNetCore.FunctionalTests.Infrastructure;
using KeepAlive.AspNetCore.FunctionalTests.ReadBack;

namespace KeepAlive.AspNetCore.FunctionalTests.Policies;

/// <summary>
/// An HTTP/1.1 client that keeps to one TCP connection and counts the connections it opened, so a test
/// can show that a later request came in on the same server socket as an earlier one.
/// </summary>
internal sealed class OneConnectionClient : IDisposable
{
    private int _connections;

    public OneConnectionClient()
    {
        Client = LoopbackClient.Create(handler =>
        {
            handler.MaxConnectionsPerServer = 1;
            // Longer than any test waits: the pool must not retire the connection under the test.
            handler.PooledConnectionIdleTimeout = TimeSpan.FromMinutes(10);
            handler.PooledConnectionLifetime = Timeout.InfiniteTimeSpan;
            handler.ConnectCallback = async (context, cancellationToken) =>
            {
                Interlocked.Increment(ref _connections);
                var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                try
                {
                    await socket.ConnectAsync(IPAddress.Parse(context.DnsEndPoint.Host), context.DnsEndPoint.Port, cancellationToken);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            };
        });
    }

    public HttpClient Client { get; }

    /// <summary>The TCP connections this client opened so far.</summary>
    public int Connections => Volatile.Read(ref _connections);

    /// <summary>GETs <paramref name="path"/> on this client's connection: a handler that answers with the kernel's values for its socket.</summary>
    public Task<KernelSocketOptions> ReadAsync(Uri address, string path = "/socket") => SocketReadBack.ReadAsync(Client, address, path);

    public void Dispose() => Client.Dispose();
}

/// <summary>Reads the kernel's values for the caller's server-side socket from any handler that writes them.</summary>
internal static class SocketReadBack
{
    /// <summary>
    /// GETs <paramref name="path"/> with exactly <paramref name="version"/> (HTTP/1.1 when not given), failing
    /// with the server's answer when it is not a success.
    /// </summary>
    public static async Task<KernelSocketOptions> ReadAsync(HttpClient client, Uri address, string path, Version? version = null)
    {
        var cancellationToken = TestContext.Current.CancellationToken;
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(address, path))
        {
            Version = version ?? HttpVersion.Version11,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
        };
        using var response = await client.SendAsync(request, cancellationToken);
        if (!response.IsSuccessStatusCode)
            Assert.Fail($"GET {path} on {address}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync(cancellationToken)}");
        Assert.Equal(request.Version, response.Version);
        return (await response.Content.ReadFromJsonAsync<KernelSocketOptions>(JsonSerializerOptions.Web, cancellationToken))!;
    }

    /// <summary>GETs <paramref name="path"/> on a connection of its own.</summary>
    public static async Task<KernelSocketOptions> ReadOnNewConnectionAsync(Uri address, string path = "/socket")
    {
        using var client = LoopbackClient.Create();
        return await ReadAsync(client, address, path);
    }
}
