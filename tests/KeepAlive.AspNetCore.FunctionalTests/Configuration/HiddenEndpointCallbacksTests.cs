using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace KeepAlive.AspNetCore.FunctionalTests.Configuration;

/// <summary>
/// Should a Kestrel version not let the library see the app's own <c>Endpoint(name, ...)</c> callbacks (it reads them
/// from Kestrel's loader by reflection), the library never replaces one: the app's endpoint settings stay, a
/// <c>KeepAlive:Endpoints</c> that maps an endpoint fails at startup saying how to map it in code, and without one a
/// warning says the same, once.
/// </summary>
public sealed class HiddenEndpointCallbacksTests : IDisposable
{
    private const string CallbacksHidden = "EndpointCallbacksHidden";

    private readonly string _certificatePath = Path.Combine(Path.GetTempPath(), $"keepalive-hidden-{Guid.NewGuid():N}.pfx");
    private readonly LogSink _logs = new();

    [Fact]
    public async Task App_that_requires_a_client_certificate_still_refuses_a_client_without_one_and_a_warning_is_logged_once()
    {
        using var certificate = TestCertificate.Create();
        await using var app = await KestrelApp.StartAsync(b => Configure(b, certificate, mapped: false), defaultEndpoint: false);

        // The TLS handshake fails: the server asked for a certificate and got none. Served, it would be 200 OK.
        using var client = LoopbackClient.Trusting(certificate);
        var refused = await Assert.ThrowsAnyAsync<HttpRequestException>(() => LoopbackClient.ReadServerSocketAsync(client, app.BaseAddress));
        Assert.NotNull(refused.InnerException);

        var warning = Assert.Single(_logs.KeepAliveEvents(CallbacksHidden));
        Assert.Equal(LogLevel.Warning, warning.Level);
        Assert.Contains("KeepAlive:Endpoints cannot be applied to the endpoints of Kestrel:Endpoints, at startup or on reload", warning.Message, StringComparison.Ordinal);
        Assert.Contains("kestrel.Configure().Endpoint(\"Http\", e => e.ListenOptions.UseKeepAlivePolicy(\"streaming\"))", warning.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task KeepAlive_Endpoints_mapping_an_endpoint_fails_at_startup_saying_why_and_how_to_map_it_in_code()
    {
        using var certificate = TestCertificate.Create();
        var builder = KestrelApp.CreateBuilder(defaultEndpoint: false);
        Configure(builder, certificate, mapped: true);
        await using var app = builder.Build();

        var failure = await Assert.ThrowsAsync<OptionsValidationException>(() => app.StartAsync(TestContext.Current.CancellationToken));

        Assert.Equal(
            "KeepAlive:Endpoints:Https maps the Kestrel endpoint 'Https', but this Kestrel version does not let the library see the app's own callbacks " +
            "for its configuration endpoints (kestrel.Configure().Endpoint(name, ...)), and replacing them could drop the app's settings (HTTPS, client certificates); " +
            "map the endpoint in code instead: kestrel.Configure().Endpoint(\"Https\", e => e.ListenOptions.UseKeepAlivePolicy(\"<policy>\")), " +
            "and remove KeepAlive:Endpoints:Https",
            Assert.Single(failure.Failures));
    }

    public void Dispose() => File.Delete(_certificatePath);

    // A Kestrel:Endpoints HTTPS endpoint the app finishes in code with a client-certificate requirement; the library's
    // lookup of the app's callbacks made to fail.
    private void Configure(WebApplicationBuilder builder, System.Security.Cryptography.X509Certificates.X509Certificate2 certificate, bool mapped)
    {
        TestCertificate.WritePkcs12(certificate, _certificatePath, "test");
        builder.Logging.AddProvider(_logs);
        builder.WebHost.UseKestrelHttpsConfiguration();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Kestrel:Endpoints:Https:Url"] = "https://127.0.0.1:0",
            ["Kestrel:Endpoints:Https:Certificate:Path"] = _certificatePath,
            ["Kestrel:Endpoints:Https:Certificate:Password"] = "test",
            ["KeepAlive:Policies:streaming:Idle"] = "00:00:15",
        });
        if (mapped)
            builder.Configuration["KeepAlive:Endpoints:Https"] = "streaming";
        builder.WebHost.ConfigureKestrel((context, kestrel) => kestrel.Configure(context.Configuration.GetSection("Kestrel"))
            .Endpoint("Https", e => e.HttpsOptions.ClientCertificateMode = ClientCertificateMode.RequireCertificate));
        builder.UseKeepAlivePolicy();
        builder.Services.AddSingleton(services => new KestrelConfigurationEndpoints(services.GetRequiredService<ILoggerFactory>())
        {
            FindAppCallbacks = _ => null,
        });
    }
}
