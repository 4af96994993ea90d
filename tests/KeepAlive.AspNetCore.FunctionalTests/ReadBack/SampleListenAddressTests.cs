using System.Net;

namespace KeepAlive.AspNetCore.FunctionalTests.ReadBack;

/// <summary>
/// The sample listens where a container or a user tells it to (issue 10): <c>ASPNETCORE_URLS</c>,
/// <c>ASPNETCORE_HTTP_PORTS</c>, <c>--urls</c>; <c>http://localhost:5080</c> is only its default.
/// Each case starts the sample as a process and asks it for <c>/connection</c> where it should be.
/// </summary>
public class SampleListenAddressTests
{
    [Fact]
    public async Task ASPNETCORE_URLS_is_where_the_sample_listens()
    {
        var port = FreeTcpPort.Next();
        await using var sample = await SampleProcess.StartAsync(new Dictionary<string, string> { ["ASPNETCORE_URLS"] = $"http://127.0.0.1:{port}" });
        await AssertServesAsync(sample, new Uri($"http://127.0.0.1:{port}"));
    }

    [Fact]
    public async Task ASPNETCORE_HTTP_PORTS_is_where_the_sample_listens()
    {
        var port = FreeTcpPort.Next();
        await using var sample = await SampleProcess.StartAsync(new Dictionary<string, string> { ["ASPNETCORE_HTTP_PORTS"] = $"{port}" });
        // HTTP_PORTS binds every address, as a container needs (asked here on 127.0.0.1).
        await AssertServesAsync(sample, new Uri($"http://[::]:{port}"));
    }

    [Fact]
    public async Task The_urls_argument_is_where_the_sample_listens()
    {
        var port = FreeTcpPort.Next();
        await using var sample = await SampleProcess.StartAsync(new Dictionary<string, string>(), "--urls", $"http://127.0.0.1:{port}");
        await AssertServesAsync(sample, new Uri($"http://127.0.0.1:{port}"));
    }

    [Fact]
    public async Task Without_any_the_sample_listens_on_localhost_5080()
    {
        // A fixed port: only inside the private network namespace is it certainly free, and ours.
        PrivateNetworkNamespace.Require();
        // An empty value is no value, to ASP.NET Core as to the sample; it only keeps SampleProcess from choosing one.
        await using var sample = await SampleProcess.StartAsync(new Dictionary<string, string> { ["ASPNETCORE_URLS"] = "" });
        await AssertServesAsync(sample, new Uri("http://localhost:5080"));
    }

    private static async Task AssertServesAsync(SampleProcess sample, Uri listeningOn)
    {
        Assert.Equal(listeningOn, sample.ListeningOn);
        using var client = LoopbackClient.Create();
        using var response = await client.GetAsync(new Uri(sample.BaseAddress, "/connection"), TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains("\"keepAlive\":true", await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
    }
}
