using System.Globalization;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.Extensions.Logging;

namespace KeepAlive.AspNetCore;

/// <summary>
/// A <see cref="KeepAliveOptions"/> turned, once at startup, into the socket options this platform
/// supports; <see cref="Apply"/> sets them on one accepted connection.
/// </summary>
internal sealed partial class KeepAlivePolicy
{
    private readonly KeepAliveSocketOption[] _socketOptions;
    private readonly ILogger _logger;

    private KeepAlivePolicy(KeepAliveOptions options, KeepAliveSocketOption[] socketOptions, ILogger logger)
    {
        Options = options;
        _socketOptions = socketOptions;
        _logger = logger;
    }

    /// <summary>The options this policy was built from.</summary>
    public KeepAliveOptions Options { get; }

    /// <summary>The socket options set on each connection, in order.</summary>
    public IReadOnlyList<KeepAliveSocketOption> SocketOptions => _socketOptions;

    /// <summary>
    /// Resolves the options for this platform. Logs, once, each option the platform lacks (the others
    /// still apply) and a user timeout that cuts keepalive short.
    /// </summary>
    public static KeepAlivePolicy Create(KeepAliveOptions options, ILogger logger)
    {
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

        var userTimeout = options.EffectiveUserTimeout;
        if (userTimeout > TimeSpan.Zero)
        {
            var option = KeepAliveSocketOption.UserTimeout(userTimeout);
            if (option is null)
                Log.OptionNotSupported(logger, nameof(KeepAliveOptions.UserTimeout), RuntimeInformation.OSDescription, "the platform has no user timeout option");
            wanted.Add(option);

            if (options.Enabled && userTimeout < options.KeepAliveSpan)
                Log.UserTimeoutCutsKeepAliveShort(logger, Format(userTimeout), Format(options.KeepAliveSpan), options.ProbeCount);
        }

        var supported = wanted.OfType<KeepAliveSocketOption>().Where(o => IsSupported(o, logger)).ToArray();
        Log.PolicyCreated(logger, options.Enabled, Format(options.Idle), Format(options.Interval), options.ProbeCount, Format(userTimeout),
            string.Join(", ", supported.Select(o => o.KernelName)));
        return new KeepAlivePolicy(options, supported, logger);
    }

    /// <summary>
    /// Sets the policy on the connection's socket when it is a TCP socket (IPv4 or IPv6). Unix domain
    /// sockets, named pipes, QUIC and in-memory transports have no TCP socket and are left alone. A
    /// failure is logged; the connection is served either way.
    /// </summary>
    /// <returns><see langword="true"/> when the connection has a TCP socket and every option was set.</returns>
    public bool Apply(ConnectionContext connection)
    {
        var socket = connection.Features.Get<IConnectionSocketFeature>()?.Socket;
        if (socket is null || socket.AddressFamily is not (AddressFamily.InterNetwork or AddressFamily.InterNetworkV6))
            return false;

        var applied = true;
        foreach (var option in _socketOptions)
        {
            try
            {
                option.Apply(socket);
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
            {
                // The peer may already be gone (the socket closed under us); the connection goes on without the option.
                applied = false;
                Log.SocketOptionFailed(_logger, option.KernelName, connection.ConnectionId, (ex as SocketException)?.SocketErrorCode.ToString() ?? "socket closed");
            }
        }
        return applied;
    }

    // Whether the platform accepts the option, tried once on a throwaway socket so that a platform
    // without it (an older Windows lacks TCP_KEEPCNT) is reported at startup, never per connection.
    private static bool IsSupported(KeepAliveSocketOption option, ILogger logger)
    {
        try
        {
            using var probe = new Socket(Socket.OSSupportsIPv4 ? AddressFamily.InterNetwork : AddressFamily.InterNetworkV6, SocketType.Stream, ProtocolType.Tcp);
            option.Apply(probe);
            return true;
        }
        catch (Exception ex) when (ex is SocketException or PlatformNotSupportedException)
        {
            Log.OptionNotSupported(logger, option.KernelName, RuntimeInformation.OSDescription, ex.Message);
            return false;
        }
    }

    private static string Format(TimeSpan value) => value.ToString("c", CultureInfo.InvariantCulture);

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Warning, "Could not set {Option} on connection {ConnectionId} ({SocketError}); the connection is served without it.", EventName = "SocketOptionFailed")]
        public static partial void SocketOptionFailed(ILogger logger, string option, string connectionId, string socketError);

        [LoggerMessage(2, LogLevel.Warning, "{Option} is not supported on {Platform} ({Reason}); it is not set, the other keepalive options still apply.", EventName = "OptionNotSupported")]
        public static partial void OptionNotSupported(ILogger logger, string option, string platform, string reason);

        [LoggerMessage(3, LogLevel.Warning, "KeepAlive:UserTimeout ({UserTimeout}) is shorter than Idle + Interval x ProbeCount ({KeepAliveSpan}): an idle connection is dropped once the user timeout has passed and a probe is unanswered, after fewer than {ProbeCount} probes (Linux ignores TCP_KEEPCNT then).", EventName = "UserTimeoutCutsKeepAliveShort")]
        public static partial void UserTimeoutCutsKeepAliveShort(ILogger logger, string userTimeout, string keepAliveSpan, int probeCount);

        [LoggerMessage(4, LogLevel.Information, "KeepAlive policy: Enabled {Enabled}, Idle {Idle}, Interval {Interval}, ProbeCount {ProbeCount}, UserTimeout {UserTimeout}; sets {SocketOptions} on each accepted TCP connection.", EventName = "PolicyCreated")]
        public static partial void PolicyCreated(ILogger logger, bool enabled, string idle, string interval, int probeCount, string userTimeout, string socketOptions);
    }
}
