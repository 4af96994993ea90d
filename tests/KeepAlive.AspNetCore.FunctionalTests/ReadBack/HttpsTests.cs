using System.Net;
using KeepAlive.AspNetCore.FunctionalTests.Infrastructure;
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
}
