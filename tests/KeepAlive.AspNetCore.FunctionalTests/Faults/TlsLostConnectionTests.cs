using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace KeepAlive.AspNetCore.FunctionalTests.Faults;

/// <summary>
/// The common production case: TLS, with HTTP/1.1 or HTTP/2 negotiated by ALPN. TLS replaces the
/// transport the HTTP layer reads, and HTTP/2 keeps a read pending on it: a vanished peer must still be
/// noticed, and reported with its cause.
/// </summary>
public class TlsLostConnectionTests
{
    [Theory]
    [InlineData("1.1")]
    [InlineData("2.0")]
    public async Task A_vanished_peer_of_a_TLS_stream_is_counted_as_lost_by_timeout(string httpVersion)
    {
        PrivateNetworkNamespace.Require();
        var stream = new EventStreamEndpoint();
        using var certificate = TestCertificate.Create();
        await using var app = await KestrelApp.StartAsync(builder =>
        {
            builder.Logging.SetMinimumLevel(LogLevel.Warning);
            builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(5));
            builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0, listen =>
            {
                listen.Protocols = HttpProtocols.Http1AndHttp2;
                listen.UseHttps(certificate);
            }));
            builder.UseKeepAlivePolicy(o =>
            {
                o.Idle = TimeSpan.FromSeconds(1);
                o.Interval = TimeSpan.FromSeconds(1);
                o.ProbeCount = 2;
            });
        }, stream.MapTo, defaultEndpoint: false);
        using var lostConnections = app.Collect<long>(KeepAliveInstrumentation.MeterName, "keepalive.lost_connections");
        using var silenceHistogram = app.Collect<double>(KeepAliveInstrumentation.MeterName, "keepalive.lost_connection.silence");

        // A client on its own loopback address, so that only it vanishes.
        var clientAddress = LoopbackAddresses.Next();
        await using var nftables = new Nftables($"tls_{clientAddress.ToString().Replace('.', '_')}");
        using var client = new HttpClient(new SocketsHttpHandler
        {
            SslOptions = { RemoteCertificateValidationCallback = (_, _, _, _) => true },
            ConnectCallback = async (context, cancellationToken) =>
            {
                var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                socket.Bind(new IPEndPoint(clientAddress, 0));
                await socket.ConnectAsync(context.DnsEndPoint, cancellationToken);
                return new NetworkStream(socket, ownsSocket: true);
            },
        });
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(app.BaseAddress, EventStreamEndpoint.Path))
        {
            Version = Version.Parse(httpVersion),
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
        };
        using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, TestContext.Current.CancellationToken);
        Assert.Equal(Version.Parse(httpVersion), response.Version);
        await using var body = await response.Content.ReadAsStreamAsync(TestContext.Current.CancellationToken);
        var first = new byte[EventStreamEndpoint.FirstEvent.Length];
        await body.ReadExactlyAsync(first, TestContext.Current.CancellationToken);
        var server = await Deadline.WithinAsync(stream.Opened, TimeSpan.FromSeconds(5), "The stream's request reaching the app");

        await nftables.DropIncomingToAsync(clientAddress);
        await Deadline.WithinAsync(server.Aborted, TimeSpan.FromSeconds(15), "RequestAborted after the peer vanished");

        var lost = Assert.Single(await lostConnections.WaitForAsync(1, TimeSpan.FromSeconds(15)));
        if (httpVersion == "1.1")
            Assert.Equal("tcp_keepalive_timeout", lost.Tags["error.type"]);
        else
            // HTTP/2 may have a frame of its own in flight (a SETTINGS or WINDOW_UPDATE acknowledgement) when the
            // peer vanishes; the kernel then ends the connection by retransmission, and says so.
            Assert.Contains(lost.Tags["error.type"], new[] { "tcp_keepalive_timeout", "tcp_user_timeout" });
        var silence = Assert.Single(await silenceHistogram.WaitForAsync(1, TimeSpan.FromSeconds(15)));
        // Silence runs from the peer's last sign of life. Only what reaches the client is dropped here, so an HTTP/2 client
        // still retransmits its own last frames (their acknowledgements never reach it) and the server hears them: its
        // last sign of life can be well after the cut. An HTTP/1.1 client has nothing of its own in flight.
        Assert.InRange(silence.Value, httpVersion == "1.1" ? 1 : 0, 4);
    }
}
