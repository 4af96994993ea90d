using System.Diagnostics.Metrics;
using System.Net;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;

namespace KeepAlive.AspNetCore.Tests.Infrastructure;

/// <summary>
/// The library's default policy applied by hand, without a host, as the unit tests of the connection path use it: its
/// metrics on the test's meter factory, its log in a <see cref="FakeLogger"/> unless one is given.
/// </summary>
internal static class DefaultPolicy
{
    /// <summary>Where the tests' connections are accepted.</summary>
    public static KeepAliveEndpoint Endpoint { get; } = KeepAliveEndpoint.From(new IPEndPoint(IPAddress.Loopback, 8080));

    public static KeepAlivePolicy Create(IMeterFactory meterFactory, ILogger? logger = null) =>
        KeepAlivePolicy.Create(KeepAlivePolicy.DefaultName, new KeepAliveOptions(), new KeepAliveMetrics(meterFactory), logger ?? new FakeLogger());

    /// <summary>The connection as <paramref name="policy"/> hands it to Kestrel, accepted at <see cref="Endpoint"/>.</summary>
    public static KeepAliveConnection Wrap(this KeepAlivePolicy policy, ConnectionContext connection) =>
        Xunit.Assert.IsType<KeepAliveConnection>(policy.Accept(connection, Endpoint));
}
