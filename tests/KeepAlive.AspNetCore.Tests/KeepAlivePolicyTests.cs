using System.Net;
using System.Net.Sockets;
using KeepAlive.AspNetCore.Tests.Infrastructure;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;

namespace KeepAlive.AspNetCore.Tests;

/// <summary>
/// The policy on a real accepted loopback socket, read back from the kernel by Linux option numbers.
/// Linux only: elsewhere the numbers and the user-timeout option differ.
/// </summary>
public class KeepAlivePolicyTests
{
    [Fact]
    public async Task Apply_sets_every_option_in_the_kernels_units()
    {
        SkipUnlessLinux();
        using var pair = await LoopbackTcpPair.ConnectAsync();
        var logger = new FakeLogger();
        var policy = Policy(
            new KeepAliveOptions { Idle = TimeSpan.FromSeconds(7), Interval = TimeSpan.FromSeconds(3), ProbeCount = 4 }, logger);

        var applied = policy.Accept(SocketConnection.Create(pair.Server), Endpoint) is KeepAliveConnection;

        Assert.True(applied);
        // Seconds for the keepalive options, milliseconds for the user timeout: 7 + 3 x 4 = 19 s.
        Assert.Equal(new KernelSocketOptions(true, 7, 3, 4, 19_000), KernelSocketOptions.Read(pair.Server));
        Assert.DoesNotContain(logger.Collector.GetSnapshot(), e => e.Level >= LogLevel.Warning);
    }

    [Fact]
    public async Task Apply_sets_an_explicit_user_timeout_to_the_millisecond()
    {
        SkipUnlessLinux();
        using var pair = await LoopbackTcpPair.ConnectAsync();
        var policy = Policy(new KeepAliveOptions { UserTimeout = TimeSpan.FromMilliseconds(150_500) }, new FakeLogger());

        Assert.True(policy.Accept(SocketConnection.Create(pair.Server), Endpoint) is KeepAliveConnection);

        Assert.Equal(new KernelSocketOptions(true, 60, 10, 6, 150_500), KernelSocketOptions.Read(pair.Server));
    }

    [Fact]
    public async Task Apply_works_on_IPv6_sockets()
    {
        SkipUnlessLinux();
        Assert.SkipUnless(Socket.OSSupportsIPv6, "IPv6 is not available on this machine.");
        using var pair = await LoopbackTcpPair.ConnectAsync(IPAddress.IPv6Loopback);
        var policy = Policy(new KeepAliveOptions { Idle = TimeSpan.FromSeconds(7), Interval = TimeSpan.FromSeconds(3), ProbeCount = 4 }, new FakeLogger());

        Assert.True(policy.Accept(SocketConnection.Create(pair.Server), Endpoint) is KeepAliveConnection);

        Assert.Equal(new KernelSocketOptions(true, 7, 3, 4, 19_000), KernelSocketOptions.Read(pair.Server));
    }

    [Fact]
    public async Task Disabled_policy_switches_keepalive_off_and_leaves_the_rest_to_the_kernel()
    {
        SkipUnlessLinux();
        using var pair = await LoopbackTcpPair.ConnectAsync();
        // Start from keepalive on (an accepted socket inherits it from a listener that had it) to see it switched off.
        KernelSocketOptions.SetKeepAlive(pair.Server, true);
        var policy = Policy(new KeepAliveOptions { Enabled = false, Idle = TimeSpan.FromSeconds(7) }, new FakeLogger());

        Assert.True(policy.Accept(SocketConnection.Create(pair.Server), Endpoint) is KeepAliveConnection);

        Assert.Equal(KernelSocketOptions.LinuxDefaults, KernelSocketOptions.Read(pair.Server));
    }

    [Fact]
    public async Task Disabled_policy_still_sets_an_explicit_user_timeout()
    {
        SkipUnlessLinux();
        using var pair = await LoopbackTcpPair.ConnectAsync();
        var policy = Policy(new KeepAliveOptions { Enabled = false, UserTimeout = TimeSpan.FromSeconds(2) }, new FakeLogger());

        Assert.True(policy.Accept(SocketConnection.Create(pair.Server), Endpoint) is KeepAliveConnection);

        Assert.Equal(KernelSocketOptions.LinuxDefaults with { UserTimeoutMilliseconds = 2000 }, KernelSocketOptions.Read(pair.Server));
    }

    [Fact]
    public async Task Zero_user_timeout_leaves_the_kernel_default_off()
    {
        SkipUnlessLinux();
        using var pair = await LoopbackTcpPair.ConnectAsync();
        var policy = Policy(new KeepAliveOptions { UserTimeout = TimeSpan.Zero }, new FakeLogger());

        Assert.True(policy.Accept(SocketConnection.Create(pair.Server), Endpoint) is KeepAliveConnection);

        Assert.Equal(new KernelSocketOptions(true, 60, 10, 6, 0), KernelSocketOptions.Read(pair.Server));
    }

    [Fact]
    public async Task Over_options_another_policy_left_a_socket_with_all_are_set_the_user_timeout_switched_off_too()
    {
        // A connection accepted from a listening socket that carried an earlier default (before a reload).
        SkipUnlessLinux();
        using var pair = await LoopbackTcpPair.ConnectAsync();
        Policy(new KeepAliveOptions(), new FakeLogger()).Accept(SocketConnection.Create(pair.Server), Endpoint);
        var withoutUserTimeout = Policy(new KeepAliveOptions { Idle = TimeSpan.FromSeconds(40), UserTimeout = TimeSpan.Zero }, new FakeLogger());

        withoutUserTimeout.Accept(SocketConnection.Create(pair.Server), Endpoint, inherited: InheritedPolicy.Unknown);

        Assert.Equal(new KernelSocketOptions(true, 40, 10, 6, 0), KernelSocketOptions.Read(pair.Server));
    }

    [Fact]
    public async Task IsSetOn_reads_the_options_back_from_the_kernel()
    {
        SkipUnlessLinux();
        using var pair = await LoopbackTcpPair.ConnectAsync();
        var policy = Policy(new KeepAliveOptions { Idle = TimeSpan.FromSeconds(7) }, new FakeLogger());
        var other = Policy(new KeepAliveOptions { Idle = TimeSpan.FromSeconds(8) }, new FakeLogger());

        Assert.False(policy.IsAppliedTo(pair.Server)); // a fresh socket: the kernel's defaults
        policy.Accept(SocketConnection.Create(pair.Server), Endpoint);
        Assert.True(policy.IsAppliedTo(pair.Server));
        Assert.False(other.IsAppliedTo(pair.Server));
        pair.Dispose();
        Assert.Null(policy.IsAppliedTo(pair.Server)); // closed: unknown, not "not set"
    }

    [Fact]
    public void SetsSameOptionsAs_compares_the_values_set_not_the_instances()
    {
        var options = new KeepAliveOptions { Idle = TimeSpan.FromSeconds(30) };
        var policy = Policy(options, new FakeLogger());

        // A reload builds new instances; one that changed nothing else in the default sets the same options.
        Assert.True(policy.SetsSameOptionsAs(Policy(new KeepAliveOptions { Idle = TimeSpan.FromSeconds(30) }, new FakeLogger())));
        Assert.False(policy.SetsSameOptionsAs(Policy(new KeepAliveOptions { Idle = TimeSpan.FromSeconds(31) }, new FakeLogger())));
        Assert.False(policy.SetsSameOptionsAs(Policy(new KeepAliveOptions { Idle = TimeSpan.FromSeconds(30), UserTimeout = TimeSpan.Zero }, new FakeLogger())));
    }

    [Fact]
    public void Connection_without_a_socket_is_left_alone()
    {
        // In-memory transports (TestServer, named pipes, QUIC) expose no IConnectionSocketFeature.
        var logger = new FakeLogger();
        var policy = Policy(new KeepAliveOptions(), logger);

        Assert.False(policy.Accept(new DefaultConnectionContext("in-memory"), Endpoint) is KeepAliveConnection);
        Assert.DoesNotContain(logger.Collector.GetSnapshot(), e => e.Level >= LogLevel.Warning);
    }

    [Fact]
    public void Unix_domain_socket_is_left_alone()
    {
        SkipUnlessLinux();
        // TCP options on it would fail (EOPNOTSUPP) and log a warning per connection; SO_KEEPALIVE would be set uselessly.
        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        var logger = new FakeLogger();
        var policy = Policy(new KeepAliveOptions(), logger);

        Assert.False(policy.Accept(SocketConnection.Create(socket), Endpoint) is KeepAliveConnection);

        Assert.False(KernelSocketOptions.ReadKeepAlive(socket));
        Assert.DoesNotContain(logger.Collector.GetSnapshot(), e => e.Level >= LogLevel.Warning);
    }

    [Fact]
    public async Task Disposed_socket_logs_SocketOptionFailed_and_does_not_throw()
    {
        // A connection can be torn down between accept and Apply; that must cost one log line, not the server.
        var pair = await LoopbackTcpPair.ConnectAsync();
        pair.Dispose();
        var logger = new FakeLogger();
        var policy = Policy(new KeepAliveOptions(), logger);

        var handedOn = policy.Accept(SocketConnection.Create(pair.Server, "conn-disposed"), Endpoint);

        Assert.Equal("conn-disposed", handedOn.ConnectionId); // still served
        var warnings = logger.Collector.GetSnapshot().Where(e => e.Level == LogLevel.Warning).ToList();
        Assert.NotEmpty(warnings);
        Assert.All(warnings, w =>
        {
            Assert.Equal("SocketOptionFailed", w.Id.Name);
            Assert.Contains("conn-disposed", w.Message, StringComparison.Ordinal);
            Assert.Null(w.Exception); // expected network event: no stack trace in the log
        });
    }

    [Fact]
    public async Task Middleware_calls_next_even_when_the_options_could_not_be_set()
    {
        var pair = await LoopbackTcpPair.ConnectAsync();
        pair.Dispose();
        var logger = new FakeLogger();
        var connection = SocketConnection.Create(pair.Server, "conn-disposed");
        var reached = new List<ConnectionContext>();
        var middleware = new KeepAliveConnectionMiddleware(
            c => { reached.Add(c); return Task.CompletedTask; },
            Fixed(Policy(new KeepAliveOptions(), logger)), () => null);

        await middleware.OnConnectionAsync(connection).WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);

        Assert.Equal(connection.ConnectionId, Assert.Single(reached).ConnectionId);
        Assert.Contains(logger.Collector.GetSnapshot(), e => e.Id.Name == "SocketOptionFailed"); // the options really failed
    }

    [Fact]
    public async Task Middleware_sets_the_options_before_next_and_lasts_as_long_as_next()
    {
        SkipUnlessLinux();
        using var pair = await LoopbackTcpPair.ConnectAsync();
        var connection = SocketConnection.Create(pair.Server);
        KernelSocketOptions? seenByNext = null;
        var connectionEnded = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var middleware = new KeepAliveConnectionMiddleware(
            c => { seenByNext = KernelSocketOptions.Read(pair.Server); return connectionEnded.Task; },
            Fixed(Policy(new KeepAliveOptions { Idle = TimeSpan.FromSeconds(7) }, new FakeLogger())), () => null);

        var running = middleware.OnConnectionAsync(connection);

        // Kestrel ends the connection when the returned task completes: it must be next's.
        Assert.False(running.IsCompleted);
        connectionEnded.SetResult();
        await running.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
        Assert.Equal(7, seenByNext?.IdleSeconds);
    }

    private static readonly KeepAliveEndpoint Endpoint = KeepAliveEndpoint.From(new IPEndPoint(IPAddress.Loopback, 8080));

    private static KeepAlivePolicy Policy(KeepAliveOptions options, ILogger logger) =>
        KeepAlivePolicy.Create(KeepAlivePolicy.DefaultName, options, new KeepAliveMetrics(new TestMeterFactory()), logger);

    private static Func<KeepAlivePolicy?> Fixed(KeepAlivePolicy policy) => () => policy;

    private static void SkipUnlessLinux() =>
        Assert.SkipUnless(OperatingSystem.IsLinux(), "Reads the options back by Linux option numbers.");
}
