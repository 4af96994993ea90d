using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Configuration;

namespace KeepAlive.AspNetCore.FunctionalTests.ReadBack;

/// <summary>
/// A Unix domain socket endpoint has a socket (IConnectionSocketFeature) but no TCP: the policy must pass
/// it through untouched, serve it, and log nothing about it.
/// </summary>
public class UnixSocketTests : IDisposable
{
    // Short, under the 108-byte sun_path limit.
    private readonly string _path = Path.Combine(Path.GetTempPath(), $"ka-{Guid.NewGuid():N}.sock");

    [Theory]
    [InlineData(true, false)]
    [InlineData(true, true)]
    [InlineData(false, true)]
    public async Task Unix_socket_endpoint_is_served_without_warnings(bool appWide, bool endpointPolicy)
    {
        if (!Socket.OSSupportsUnixDomainSockets)
            Assert.Skip("This OS has no Unix domain sockets.");

        var logs = new LogSink();
        await using var app = await KestrelApp.StartAsync(b =>
        {
            b.Logging.AddProvider(logs);
            if (appWide)
                b.UseKeepAlivePolicy();
            b.WebHost.ConfigureKestrel(k =>
            {
                k.ListenUnixSocket(_path, listen =>
                {
                    if (endpointPolicy)
                        listen.UseKeepAlivePolicy();
                });
                // A TCP endpoint next to it, to see the policy is live in this app.
                k.Listen(IPAddress.Loopback, 0);
            });
        }, KernelReadBackEndpoint.MapFamily, defaultEndpoint: false);

        // Two connections, so a per-connection warning would show twice.
        for (var i = 0; i < 2; i++)
        {
            using var client = LoopbackClient.ForUnixSocket(_path);
            Assert.Equal(AddressFamily.Unix, await KernelReadBackEndpoint.ReadFamilyAsync(client, new Uri("http://localhost/")));
        }

        var tcp = new Uri(app.Addresses.Single(a => a.StartsWith("http://127.0.0.1:", StringComparison.Ordinal)));
        var expectedTcp = appWide ? new KernelSocketOptions(true, 60, 10, 6, 120_000) : KernelSocketOptions.LinuxDefaults;
        Assert.Equal(expectedTcp, await LoopbackClient.ReadOnNewConnectionAsync(tcp));

        Assert.NotEmpty(logs.KeepAliveEvents("PolicyCreated"));
        Assert.DoesNotContain(logs.KeepAlive, e => e.Level >= LogLevel.Warning);
    }

    [Fact]
    public async Task A_Unix_socket_endpoint_named_in_KeepAlive_Endpoints_is_refused_at_startup_naming_the_key()
    {
        if (!Socket.OSSupportsUnixDomainSockets)
            Assert.Skip("This OS has no Unix domain sockets.");

        var failure = await Assert.ThrowsAsync<Microsoft.Extensions.Options.OptionsValidationException>(() => KestrelApp.StartAsync(b =>
        {
            b.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["Kestrel:Endpoints:Sock:Url"] = $"http://unix:{_path}",
                ["KeepAlive:Endpoints:Sock"] = "default",
            });
            b.UseKeepAlivePolicy();
        }, defaultEndpoint: false));

        Assert.Equal(
            $"KeepAlive:Endpoints:Sock maps the Kestrel endpoint 'Sock', whose Url 'http://unix:{_path}' is a Unix domain socket or a named pipe: " +
            "it has no TCP connections, and no policy applies there; remove KeepAlive:Endpoints:Sock",
            Assert.Single(failure.Failures));
    }

    public void Dispose() => File.Delete(_path);
}
