using System.Net;
using System.Text.Json;

namespace KeepAlive.AspNetCore.FunctionalTests.Infrastructure.Clients;

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
