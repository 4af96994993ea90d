using Microsoft.AspNetCore.Hosting;

namespace KeepAlive.AspNetCore.FunctionalTests.ReadBack;

/// <summary>Endpoints that come from configuration, not code: <c>Kestrel:Endpoints</c> (HTTP and HTTPS) and <c>urls</c>.</summary>
public class ConfigurationEndpointTests : IDisposable
{
    private readonly string _certificatePath = Path.Combine(Path.GetTempPath(), $"keepalive-readback-{Guid.NewGuid():N}.pfx");

    [Fact]
    public async Task Kestrel_Endpoints_from_configuration_get_the_policy()
    {
        using var certificate = TestCertificate.Create();
        TestCertificate.WritePkcs12(certificate, _certificatePath, "test");
        await using var app = await KestrelApp.StartAsync(b =>
        {
            // The slim builder leaves HTTPS-from-configuration out unless asked; CreateBuilder has it.
            b.WebHost.UseKestrelHttpsConfiguration();
            b.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["Kestrel:Endpoints:Api:Url"] = "http://127.0.0.1:0",
                ["Kestrel:Endpoints:Secure:Url"] = "https://127.0.0.1:0",
                ["Kestrel:Endpoints:Secure:Certificate:Path"] = _certificatePath,
                ["Kestrel:Endpoints:Secure:Certificate:Password"] = "test",
            });
            KeepAliveSection.Add(b.Configuration, "Idle=00:00:33", "Interval=00:00:03", "ProbeCount=4", "UserTimeout=00:01:00");
            b.UseKeepAlivePolicy();
        }, defaultEndpoint: false);
        var expected = new KernelSocketOptions(true, 33, 3, 4, 60_000);

        var http = app.Addresses.Select(a => new Uri(a)).Single(a => a.Scheme == Uri.UriSchemeHttp);
        var https = app.Addresses.Select(a => new Uri(a)).Single(a => a.Scheme == Uri.UriSchemeHttps);
        Assert.Equal(expected, await LoopbackClient.ReadOnNewConnectionAsync(http));
        using var tlsClient = LoopbackClient.Trusting(certificate);
        Assert.Equal(expected, await LoopbackClient.ReadServerSocketAsync(tlsClient, https));
    }

    [Fact]
    public async Task Urls_setting_from_configuration_gets_the_policy()
    {
        // The "urls" key is what ASPNETCORE_URLS and --urls set.
        await using var app = await KestrelApp.StartAsync(b =>
        {
            b.Configuration["urls"] = "http://127.0.0.1:0";
            b.UseKeepAlivePolicy(o => o.ProbeCount = 9);
        }, defaultEndpoint: false);

        // Not Kestrel's fallback (localhost:5000): the configured URL was bound.
        Assert.Equal("127.0.0.1", app.BaseAddress.Host);
        Assert.Equal(new KernelSocketOptions(true, 60, 10, 9, 150_000), await LoopbackClient.ReadOnNewConnectionAsync(app.BaseAddress));
    }

    [Fact]
    public async Task Endpoint_added_by_a_configuration_reload_gets_the_policy()
    {
        // Kestrel watches Kestrel:Endpoints and binds endpoints that appear while it runs, through the same
        // (decorated) transport factory.
        await using var app = await KestrelApp.StartAsync(b =>
        {
            b.Configuration["Kestrel:Endpoints:First:Url"] = "http://127.0.0.1:0";
            b.UseKeepAlivePolicy(o => o.Idle = TimeSpan.FromSeconds(19));
        }, defaultEndpoint: false);
        var first = Assert.Single(app.Addresses);

        app.App.Configuration["Kestrel:Endpoints:Later:Url"] = "http://127.0.0.1:0";
        ((IConfigurationRoot)app.App.Configuration).Reload();
        await Eventually.HoldsAsync(() => app.Addresses.Count >= 2, "Kestrel binding the endpoint added at run time");

        var later = new Uri(app.Addresses.Single(a => a != first));
        Assert.Equal(new KernelSocketOptions(true, 19, 10, 6, 79_000), await LoopbackClient.ReadOnNewConnectionAsync(later));
    }

    public void Dispose() => File.Delete(_certificatePath);
}
