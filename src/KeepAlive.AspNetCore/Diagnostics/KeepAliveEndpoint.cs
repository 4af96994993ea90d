using System.Diagnostics;

namespace KeepAlive.AspNetCore;

/// <summary>
/// Where connections are accepted: the attributes every instrument carries, computed (and the port
/// boxed) once per listening endpoint rather than per connection.
/// </summary>
internal sealed class KeepAliveEndpoint(string? address, int? port, string? networkType)
{
    private readonly object? _port = port;
    private string[] _withSeries = []; // the policies whose series exist here (KeepAliveMetrics.CreateSeries)

    public static KeepAliveEndpoint From(System.Net.EndPoint? endPoint) => endPoint is System.Net.IPEndPoint ip
        ? new(ip.Address.ToString(), ip.Port, ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? "ipv6" : "ipv4")
        : new(null, null, null);

    public TagList Tags(string policyName)
    {
        var tags = new TagList();
        if (address is not null)
        {
            tags.Add(KeepAliveTags.ServerAddress, address);
            tags.Add(KeepAliveTags.ServerPort, _port);
            tags.Add(KeepAliveTags.NetworkType, networkType);
        }
        tags.Add(KeepAliveTags.Policy, policyName);
        return tags;
    }

    /// <summary>
    /// Whether <paramref name="policyName"/> is new on this endpoint, marking it seen: true once per policy name. A few
    /// policies per endpoint at most, so a scan of a small array, copied on the rare write.
    /// </summary>
    public bool TryMarkSeriesCreated(string policyName)
    {
        while (true)
        {
            var withSeries = Volatile.Read(ref _withSeries);
            if (Array.IndexOf(withSeries, policyName) >= 0)
                return false;
            if (Interlocked.CompareExchange(ref _withSeries, [.. withSeries, policyName], withSeries) == withSeries)
                return true;
        }
    }
}
