using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace KeepAlive.AspNetCore;

/// <summary>
/// A <see cref="KeepAliveOptions"/> turned, once at startup, into the socket options this platform
/// supports; <see cref="Apply"/> sets them on one accepted connection.
/// </summary>
internal sealed class KeepAlivePolicy
{
    /// <summary>The name of the app-wide policy in metrics and logs.</summary>
    public const string DefaultName = "default";

    private readonly KeepAliveSocketOption[] _socketOptions;
    // Over a connection the app-wide policy already set: the same, plus an explicit "off" for a user timeout
    // this policy does not set, since leaving it unset would leave the app-wide one in force.
    private readonly KeepAliveSocketOption[] _overrideOptions;
    private readonly KeepAliveMetrics _metrics;
    private readonly ILogger _logger;
    private readonly OpenConnections? _openConnections;
    private readonly CancellationToken _stopping;
    // A connection closed gracefully (no abort) is read at its end once it is this old: the first moment a timer can have
    // found its peer silent (keepalive probes go out after Idle; an HTTP/2 keepalive ping gives up after its span).
    private readonly TimeSpan _readGracefulEndFrom;

    private KeepAlivePolicy(string name, KeepAliveOptions options, KeepAliveBounds bounds, KeepAliveSocketOption[] socketOptions, KeepAliveMetrics metrics, ILogger logger,
        OpenConnections? openConnections, ApplicationTimers timers, CancellationToken stopping)
    {
        _openConnections = openConnections;
        Timers = timers;
        _stopping = stopping;
        _readGracefulEndFrom = TimeSpan.FromTicks(Math.Min(
            options.Enabled ? options.Idle.Ticks : long.MaxValue,
            timers.Http2PingEndsAfter?.Ticks ?? long.MaxValue));
        Name = name;
        Options = options;
        Bounds = bounds;
        _socketOptions = socketOptions;
        _overrideOptions = options.EffectiveUserTimeout == TimeSpan.Zero && KeepAliveSocketOption.UserTimeout(TimeSpan.Zero) is { } off && IsSupported(off)
            ? [.. socketOptions, off]
            : socketOptions;
        _metrics = metrics;
        _logger = logger;
    }

    /// <summary>The policy's name: the <c>keepalive.policy</c> attribute of its metrics.</summary>
    public string Name { get; }

    /// <summary>The options this policy was built from.</summary>
    public KeepAliveOptions Options { get; }

    /// <summary>How long this policy lets the server hold a peer that went away or stalled.</summary>
    public KeepAliveBounds Bounds { get; }

    /// <summary>The timers above TCP the app configured, which may find a silent peer before this policy does.</summary>
    public ApplicationTimers Timers { get; }

    /// <summary>Whether the host is shutting down: the connections it ends then are not lost, whatever their peers do.</summary>
    public bool IsStopping => _stopping.IsCancellationRequested;

    /// <summary>Whether a connection of this <paramref name="age"/> that ends gracefully can have been ended by a timer that found its peer silent.</summary>
    public bool MayHaveFoundSilentPeer(TimeSpan age) => age >= _readGracefulEndFrom;

    /// <summary>
    /// Whether a connection holds a second descriptor of its socket while a write waits for the peer, to read the kernel's
    /// verdict should the send meet it first: only with a user timeout, which ends such a write's peer within it. Without
    /// one a live peer that stops reading is held for ever (its window probes are answered), and so would the descriptor.
    /// </summary>
    public bool HoldsDescriptorWhileWriting => OperatingSystem.IsLinux() && Options.EffectiveUserTimeout > TimeSpan.Zero;

    /// <summary>
    /// Resolves the options for this platform and states what the policy does: logs the policy with its bounds,
    /// each option the platform lacks (the others still apply), and a user timeout that overrides ProbeCount.
    /// Call it once per policy, and again only when its values change.
    /// </summary>
    /// <param name="name">The policy's name.</param>
    /// <param name="options">Its values.</param>
    /// <param name="metrics">Where it reports.</param>
    /// <param name="logger">Where it logs.</param>
    /// <param name="openConnections">Tracks the connections it is applied to, so that a reload reaches them; none for a policy set in code.</param>
    /// <param name="section">Where its values are set, for the warnings: <c>KeepAlive</c>, <c>KeepAlive:Policies:streaming</c>, or the code that set them.</param>
    /// <param name="kernel">The kernel settings its bounds depend on; read now when not given.</param>
    /// <param name="timers">The timers above TCP the app configured (warned of when they end dead peers first); none when not given.</param>
    /// <param name="host">The host, whose shutdown ends connections that are not lost; none for a test.</param>
    public static KeepAlivePolicy Create(string name, KeepAliveOptions options, KeepAliveMetrics metrics, ILogger logger,
        OpenConnections? openConnections = null, string section = KeepAliveOptions.SectionName, TcpKernelSettings? kernel = null,
        ApplicationTimers? timers = null, IHostApplicationLifetime? host = null)
    {
        timers ??= ApplicationTimers.None;
        kernel ??= TcpKernelSettings.Read();
        var wanted = new List<KeepAliveSocketOption?>();
        if (options.Enabled)
        {
            wanted.Add(KeepAliveSocketOption.KeepAlive(true));
            wanted.Add(KeepAliveSocketOption.Idle(options.Idle));
            wanted.Add(KeepAliveSocketOption.Interval(options.Interval));
            wanted.Add(KeepAliveSocketOption.ProbeCount(options.ProbeCount));
        }
        else
        {
            wanted.Add(KeepAliveSocketOption.KeepAlive(false));
        }

        var bounds = KeepAliveBounds.For(options, kernel);
        var userTimeout = options.EffectiveUserTimeout;
        if (userTimeout > TimeSpan.Zero)
        {
            var option = KeepAliveSocketOption.UserTimeout(userTimeout);
            if (option is null)
                KeepAliveLog.OptionNotSupported(logger, nameof(KeepAliveOptions.UserTimeout), RuntimeInformation.OSDescription, "the platform has no user timeout option");
            wanted.Add(option);
        }

        var supported = wanted.OfType<KeepAliveSocketOption>().Where(o => IsSupported(o, logger)).ToArray();
        KeepAliveLog.PolicyCreated(logger, name, options.Enabled, Format(options.Idle), Format(options.Interval), options.ProbeCount,
            options.UserTimeout is null && options.Enabled ? $"{Format(userTimeout)} (derived)" : Format(userTimeout),
            bounds.Describe(), string.Join(", ", supported.Select(o => o.KernelName)));
        WarnOfUserTimeout(logger, name, options, section, bounds);
        WarnOfApplicationTimers(logger, name, bounds, timers);
        return new KeepAlivePolicy(name, options, bounds, supported, metrics, logger, openConnections, timers, host?.ApplicationStopping ?? default);
    }

    // A timer above TCP whose span is shorter than what TCP needs to give up on a peer that stops answering its pings
    // (the ping interval, then the user timeout) ends such peers first, and their losses are counted as its own.
    private static void WarnOfApplicationTimers(ILogger logger, string name, KeepAliveBounds bounds, ApplicationTimers timers)
    {
        foreach (var timer in timers.All)
        {
            if (timer.EndsAfter >= timer.SendsEvery + bounds.UnacknowledgedData)
                continue;
            KeepAliveLog.ApplicationTimerEndsFirst(logger, timer.Setting, KeepAliveBounds.Format(timer.EndsAfter), name, KeepAliveBounds.Format(bounds.UnacknowledgedData),
                LostConnectionCause.AppTimeout.ToErrorType(), timer.BehindProxyCause is { } cause ? $"counted as {cause}" : "not counted: its pings do not cross a proxy");
        }
    }

    // On Linux a user timeout replaces ProbeCount as the rule for idle peers (tcp_keepalive_timer): one set apart from
    // Idle + Interval x ProbeCount makes the policy hold a dead idle peer for another time than its keys say.
    private static void WarnOfUserTimeout(ILogger logger, string name, KeepAliveOptions options, string section, KeepAliveBounds bounds)
    {
        if (!options.Enabled || options.UserTimeout is not { } userTimeout || userTimeout == TimeSpan.Zero || userTimeout == options.KeepAliveSpan ||
            bounds.SilentIdlePeer is not { } idle)
        {
            return;
        }
        var key = $"{section}:{nameof(KeepAliveOptions.UserTimeout)}";
        var span = KeepAliveBounds.Format(options.KeepAliveSpan);
        if (userTimeout < options.KeepAliveSpan)
            KeepAliveLog.UserTimeoutCutsKeepAliveShort(logger, key, KeepAliveBounds.Format(userTimeout), span, name, KeepAliveBounds.Format(idle), bounds.IdleProbes, options.ProbeCount);
        else
            KeepAliveLog.UserTimeoutHoldsIdlePeerLonger(logger, key, KeepAliveBounds.Format(userTimeout), span, name, KeepAliveBounds.Format(idle), bounds.IdleProbes, options.ProbeCount);
    }

    /// <summary>
    /// Takes an accepted connection under this policy: applies it to the connection's socket when it is a TCP socket
    /// (IPv4 or IPv6) and returns the connection to hand on, one that watches for the peer going silent. Unix domain sockets, named
    /// pipes, QUIC and in-memory transports have no TCP socket: they are returned untouched. A failure
    /// to set an option is logged and counted; the connection is served either way.
    /// </summary>
    /// <param name="connection">The accepted connection.</param>
    /// <param name="endpoint">Where it was accepted.</param>
    /// <param name="source">Where this policy came from, asked again on reload (see <see cref="KeepAliveConnection.PolicySource"/>).</param>
    /// <param name="inherited">What the socket has from its listening socket (<see cref="ListeningSocket"/>).</param>
    public ConnectionContext Accept(ConnectionContext connection, KeepAliveEndpoint endpoint, Func<KeepAlivePolicy?>? source = null,
        InheritedPolicy inherited = InheritedPolicy.KernelDefaults)
    {
        if (connection is KeepAliveConnection tracked)
        {
            // An endpoint's own policy over the app-wide one, already set at accept.
            tracked.FollowPolicy(source ?? (() => this));
            return tracked;
        }

        var socket = connection.Features.Get<IConnectionSocketFeature>()?.Socket;
        if (socket is null || socket.AddressFamily is not (AddressFamily.InterNetwork or AddressFamily.InterNetworkV6))
            return connection;

        if (inherited != InheritedPolicy.ThisPolicy)
            Apply(inherited == InheritedPolicy.KernelDefaults ? _socketOptions : _overrideOptions, socket, connection, endpoint);
        return new KeepAliveConnection(connection, socket, this, endpoint, _openConnections, source);
    }

    /// <summary>
    /// Applies this policy to a connection another policy was applied to (an endpoint's, a route's, or a reloaded
    /// one): all of its options, including an explicit "off" for a user timeout it lacks. Only through
    /// <see cref="KeepAliveConnection.FollowPolicy"/> and <see cref="KeepAliveConnection.ReapplyPolicy"/>, which hold the connection's lock.
    /// </summary>
    internal void ApplyTo(KeepAliveConnection connection)
    {
        _metrics.CreateSeries(connection.Endpoint, Name);
        Apply(_overrideOptions, connection.Socket, connection, connection.Endpoint);
    }

    /// <summary>
    /// Applies the policy to a listening socket (all of its options, over whatever policy it had), so that the
    /// connections it accepts start with them: Linux copies a listening socket's options to each new connection.
    /// </summary>
    /// <returns>Whether every option was set.</returns>
    public bool TryApplyTo(Socket listenSocket)
    {
        try
        {
            foreach (var option in _overrideOptions)
                option.ApplyTo(listenSocket);
            return true;
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            return false; // its connections get the options one by one
        }
    }

    /// <summary>
    /// Whether the socket has this policy's options, read back from the kernel; <see langword="null"/> when they
    /// could not be read (the socket is closed).
    /// </summary>
    public bool? IsAppliedTo(Socket socket)
    {
        try
        {
            return _overrideOptions.All(o => o.IsAppliedTo(socket));
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            return null;
        }
    }

    /// <summary>Whether this policy sets the same options, to the same values, as <paramref name="other"/>.</summary>
    public bool SetsSameOptionsAs(KeepAlivePolicy other) =>
        _overrideOptions.Select(o => (o.KernelName, o.Value)).SequenceEqual(other._overrideOptions.Select(o => (o.KernelName, o.Value)));

    /// <summary>Counts a connection Kestrel starts to serve under this policy (<c>keepalive.applied_connections</c>).</summary>
    public void CountApplied(KeepAliveEndpoint endpoint) => _metrics.ConnectionApplied(endpoint, Name);

    /// <summary>Reports a connection lost because its peer stopped answering, and what noticed it.</summary>
    public void ReportLost(ConnectionContext connection, KeepAliveEndpoint endpoint, LostConnectionCause cause, TimeSpan? silence, ConnectionEnder ender = ConnectionEnder.Transport)
    {
        _metrics.ConnectionLost(endpoint, Name, cause, silence);
        KeepAliveLog.ConnectionLost(_logger, connection.ConnectionId, connection.RemoteEndPoint, cause.ToErrorType(), NoticedBy(cause, ender), silence?.TotalSeconds, Name);
    }

    private static string NoticedBy(LostConnectionCause cause, ConnectionEnder ender) => cause switch
    {
        LostConnectionCause.AppTimeout or LostConnectionCause.AppPingTimeout or LostConnectionCause.AppZeroWindow => ender switch
        {
            ConnectionEnder.WebSocketPing => "the WebSocket's keepalive ping",
            ConnectionEnder.SignalR => "SignalR's client timeout",
            ConnectionEnder.KestrelTimeout => "Kestrel's minimum data rate",
            ConnectionEnder.Kestrel => "Kestrel (its HTTP/2 keepalive ping or keep-alive timeout)",
            _ => "the application",
        },
        _ => "the kernel",
    };

    private void Apply(KeepAliveSocketOption[] socketOptions, Socket socket, ConnectionContext connection, KeepAliveEndpoint endpoint)
    {
        foreach (var option in socketOptions)
        {
            try
            {
                option.ApplyTo(socket);
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
            {
                // The peer may already be gone (the socket closed under us); the connection goes on without the option.
                var error = ex is SocketException socketException ? socketException.SocketErrorCode.ToString() : "socket_closed";
                _metrics.PolicyError(endpoint, Name, option.KernelName, error);
                KeepAliveLog.SocketOptionFailed(_logger, option.KernelName, connection.ConnectionId, error);
                if (ex is ObjectDisposedException)
                    return; // the others would fail the same way
            }
        }
    }

    // Whether the platform accepts the option, tried once on a throwaway socket so that a platform
    // without it (an older Windows lacks TCP_KEEPCNT) is reported at startup, never per connection.
    private static bool IsSupported(KeepAliveSocketOption option, ILogger? logger = null)
    {
        try
        {
            using var probe = new Socket(Socket.OSSupportsIPv4 ? AddressFamily.InterNetwork : AddressFamily.InterNetworkV6, SocketType.Stream, ProtocolType.Tcp);
            option.ApplyTo(probe);
            return true;
        }
        catch (Exception ex) when (ex is SocketException or PlatformNotSupportedException)
        {
            if (logger is not null)
                KeepAliveLog.OptionNotSupported(logger, option.KernelName, RuntimeInformation.OSDescription, ex.Message);
            return false;
        }
    }

    private static string Format(TimeSpan value) => value.ToString("c", CultureInfo.InvariantCulture);
}
