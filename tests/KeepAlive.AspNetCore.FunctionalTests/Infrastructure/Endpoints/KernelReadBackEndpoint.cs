using System.Net.Sockets;
using System.Text.Json;
using Microsoft.AspNetCore.Connections.Features;

namespace KeepAlive.AspNetCore.FunctionalTests.Infrastructure.Endpoints;

/// <summary>
/// Request handlers for hosts that do not come from <see cref="KestrelApp"/> (the sample through
/// WebApplicationFactory, a generic host): the same <c>/socket</c> answer KestrelApp gives, and
/// <c>/family</c>, the address family of the caller's server-side socket.
/// </summary>
internal static class KernelReadBackEndpoint
{
    public static Task WriteSocketOptionsAsync(HttpContext context) =>
        context.Features.Get<IConnectionSocketFeature>()?.Socket is { } socket
            ? context.Response.WriteAsJsonAsync(KernelSocketOptions.Read(socket), JsonSerializerOptions.Web, context.RequestAborted)
            : Results.Problem("no socket").ExecuteAsync(context);

    /// <summary>Maps <c>/family</c> on a <see cref="KestrelApp"/>: which kind of socket the connection came in on.</summary>
    public static void MapFamily(WebApplication app) =>
        app.MapGet("/family", (HttpContext context) =>
            context.Features.Get<IConnectionSocketFeature>()?.Socket.AddressFamily.ToString() ?? "no socket");

    public static async Task<AddressFamily> ReadFamilyAsync(HttpClient client, Uri address)
    {
        var text = await client.GetStringAsync(new Uri(address, "/family"), TestContext.Current.CancellationToken);
        return Enum.Parse<AddressFamily>(text);
    }
}
