using System.Net;

namespace KeepAlive.AspNetCore.FunctionalTests.Infrastructure.Metrics;

internal sealed record ViewedConnection(
    string ConnectionId, string RemoteEndPoint, string LocalEndPoint, string Policy, string? State, double? Silence,
    double? LastDataReceived, double? Rtt, int? Probes, int? Retransmits, long? UnsentBytes, ViewedBounds Bounds)
{
    public IPAddress RemoteAddress => IPEndPoint.Parse(RemoteEndPoint).Address;
}
