using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace KeepAlive.AspNetCore.FunctionalTests.ReadBack;

/// <summary>TLS wraps the connection's stream, not its socket: the policy still reaches the TCP socket, over HTTP/1.1 and HTTP/2.</summary>
public class HttpsTests
{
    [Theory]
    [InlineData("1.1")]
    [InlineData("2.0")]
    public async Task App_wide_policy_applies_under_TLS(string httpVersion)
    {
        using var certificate = TestCertificate.Create();
        await using var app = await KestrelApp.StartAsync(b =>
        {
            b.UseKeepAlivePolicy(o => { o.Idle = TimeSpan.FromSeconds(17); o.UserTimeout = TimeSpan.FromSeconds(90); });
            b.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, listen =>
            {
                listen.Protocols = HttpProtocols.Http1AndHttp2;
                listen.UseHttps(certificate);
            }));
        }, defaultEndpoint: false);
        using var client = LoopbackClient.Trusting(certificate);

        Assert.Equal(Uri.UriSchemeHttps, app.BaseAddress.Scheme);
        // ReadServerSocketAsync insists on the exact version, so the HTTP/2 case really is HTTP/2 (ALPN).
        Assert.Equal(new KernelSocketOptions(true, 17, 10, 6, 90_000),
            await LoopbackClient.ReadServerSocketAsync(client, app.BaseAddress, Version.Parse(httpVersion)));
    }

    [Theory]
    [InlineData(true, "1.1")]
    [InlineData(false, "1.1")]
    [InlineData(true, "2.0")]
    [InlineData(false, "2.0")]
    public async Task Endpoint_policy_applies_whether_added_before_or_after_UseHttps(bool policyFirst, string httpVersion)
    {
        // After UseHttps the endpoint's middleware runs once the handshake is done; the socket is the same.
        using var certificate = TestCertificate.Create();
        await using var app = await KestrelApp.StartAsync(b =>
            b.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, listen =>
            {
                listen.Protocols = HttpProtocols.Http1AndHttp2;
                if (policyFirst)
                    listen.UseKeepAlivePolicy(o => o.Idle = TimeSpan.FromSeconds(13));
                listen.UseHttps(certificate);
                if (!policyFirst)
                    listen.UseKeepAlivePolicy(o => o.Idle = TimeSpan.FromSeconds(13));
            })), defaultEndpoint: false);
        using var client = LoopbackClient.Trusting(certificate);

        Assert.Equal(new KernelSocketOptions(true, 13, 10, 6, 73_000),
            await LoopbackClient.ReadServerSocketAsync(client, app.BaseAddress, Version.Parse(httpVersion)));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Under_TLS_the_transport_an_app_takes_from_the_connection_features_is_the_decrypted_one(bool withPolicy)
    {
        // What a CONNECT tunnel or a protocol switch does: take the connection's transport and write to it.
        // Under TLS that must be the decrypted pipe, as with plain Kestrel, or the client gets bytes outside TLS.
        using var certificate = TestCertificate.Create();
        await using var app = await KestrelApp.StartAsync(b =>
        {
            if (withPolicy)
                b.UseKeepAlivePolicy();
            b.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, listen => listen.UseHttps(certificate)));
        }, app => app.MapGet("/tunnel", async (HttpContext context) =>
        {
            context.Response.ContentLength = 2;
            await context.Response.WriteAsync("ok");
            await context.Response.CompleteAsync();
            var transport = context.Features.GetRequiredFeature<IConnectionTransportFeature>().Transport;
            await transport.Output.WriteAsync("|tunnel"u8.ToArray());
        }), defaultEndpoint: false);

        using var tcp = new TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, app.BaseAddress.Port, TestContext.Current.CancellationToken);
        await using var tls = new SslStream(tcp.GetStream(), leaveInnerStreamOpen: false, (_, _, _, _) => true);
        await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = "localhost" }, TestContext.Current.CancellationToken);
        await tls.WriteAsync("GET /tunnel HTTP/1.1\r\nHost: localhost\r\n\r\n"u8.ToArray(), TestContext.Current.CancellationToken);

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(10));
        var received = new StringBuilder();
        var buffer = new byte[4096];
        while (!received.ToString().EndsWith("|tunnel", StringComparison.Ordinal))
        {
            var read = await tls.ReadAsync(buffer, timeout.Token);
            Assert.True(read > 0, $"The connection ended after: {received}");
            received.Append(Encoding.ASCII.GetString(buffer, 0, read));
        }
        Assert.EndsWith("\r\n\r\nok|tunnel", received.ToString());
    }
}
