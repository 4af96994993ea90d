using System.Net;
using System.Text.Json;

namespace KeepAlive.AspNetCore.FunctionalTests.Infrastructure.Metrics;

/// <summary>The connection view (<c>MapKeepAliveConnections</c>) as an operator's script reads it.</summary>
internal static class ConnectionView
{
    /// <summary>GETs the view at <paramref name="address"/> (with its query, if any); fails unless it is a 200.</summary>
    public static async Task<(IReadOnlyList<ViewedConnection> Connections, string Json)> ReadAsync(HttpClient client, Uri address)
    {
        var (view, json) = await ReadDocumentAsync(client, address);
        return (view.Connections, json);
    }

    /// <summary>The whole document: the connections shown, how many matched, how many the limit left out.</summary>
    public static async Task<(ViewDocument View, string Json)> ReadDocumentAsync(HttpClient client, Uri address)
    {
        using var response = await client.GetAsync(address, TestContext.Current.CancellationToken);
        var json = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"GET {address}: {(int)response.StatusCode} {json}");
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        return (JsonSerializer.Deserialize<ViewDocument>(json, JsonSerializerOptions.Web)!, json);
    }
}
