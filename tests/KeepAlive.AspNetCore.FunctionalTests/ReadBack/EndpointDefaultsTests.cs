using System.Net;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace KeepAlive.AspNetCore.FunctionalTests.ReadBack;

/// <summary>
/// An app or another library calling <c>ConfigureEndpointDefaults</c>, which replaces whatever action was
/// there before: the app-wide policy must survive it, before or after <c>UseKeepAlivePolicy</c>.
/// </summary>
public class EndpointDefaultsTests
{
    [Theory]
    [InlineData(true, false, false)]
    [InlineData(false, true, false)]
    [InlineData(true, true, false)]
    [InlineData(true, false, true)]
    [InlineData(false, true, true)]
    public async Task ConfigureEndpointDefaults_does_not_remove_the_policy(bool defaultsBefore, bool defaultsAfter, bool listenInCode)
    {
        var connectionsSeenByDefaults = 0;
        void Defaults(KestrelServerOptions kestrel) => kestrel.ConfigureEndpointDefaults(listen =>
        {
            listen.Protocols = HttpProtocols.Http1;
            // Proves the defaults action reached the endpoint, so the policy really had to coexist with it.
            listen.Use(next => connection =>
            {
                Interlocked.Increment(ref connectionsSeenByDefaults);
                return next(connection);
            });
        });

        await using var app = await KestrelApp.StartAsync(b =>
        {
            if (defaultsBefore)
                b.WebHost.ConfigureKestrel(Defaults);
            b.UseKeepAlivePolicy(o => o.Idle = TimeSpan.FromSeconds(44));
            if (defaultsAfter)
                b.WebHost.ConfigureKestrel(Defaults);
            // A URL endpoint gets the defaults when Kestrel binds it; a code endpoint when Listen is called (last here).
            if (listenInCode)
                b.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0));
            else
                b.WebHost.UseUrls("http://127.0.0.1:0");
        }, defaultEndpoint: false);

        Assert.Equal(new KernelSocketOptions(true, 44, 10, 6, 104_000), await LoopbackClient.ReadOnNewConnectionAsync(app.BaseAddress));
        Assert.Equal(1, Volatile.Read(ref connectionsSeenByDefaults));
    }
}
