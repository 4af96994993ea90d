using System.Diagnostics;

namespace KeepAlive.AspNetCore;

/// <summary>
/// Where connections are accepted: the attributes every instrument carries, computed (and the port
/// boxed) once per listening endpoint rather than per connection.
/// </summary>
internal sealed class KeepAliveEndpoint(string? address, int? port, string? networkType)
{
    private readonly object? _port = port;

    public static KeepAliveEndpoint From(System.Net.EndPoint? endPoint) => endPoint is System.Net.IPEndPoint ip
        ? new(ip.Address.ToString(), ip.Port, ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? "ipv6" : "ipv4")
        : new(null, null, null);

    public TagList Tags(string policyName)
    {
        var tags = new TagList();
        if (address is not null)
        {
            tags.Add("server.address", address);
            tags.Add("server.port", _port);
            tags.Add("network.type", networkType);
        }
        tags.Add("keepalive.policy", policyName);
        return tags;
    }
}
