using System.Net;
using Microsoft.Extensions.Logging;

namespace KeepAlive.AspNetCore;

/// <summary>
/// Every event the library logs, in the category <see cref="Category"/>, by id. Ids and names are what operators
/// filter and alert on: they never change. Each template states the fact and the key; what to do about it is in
/// docs/logging.md, under the event's name.
/// </summary>
internal static partial class KeepAliveLog
{
    public const string Category = "KeepAlive.AspNetCore";

    [LoggerMessage(1, LogLevel.Warning, "Could not set {Option} on connection {ConnectionId} ({SocketError}); the connection is served without it.", EventName = "SocketOptionFailed")]
    public static partial void SocketOptionFailed(ILogger logger, string option, string connectionId, string socketError);

    [LoggerMessage(2, LogLevel.Warning, "{Option} is not supported on {Platform} ({Reason}); it is not set, the other keepalive options still apply.", EventName = "OptionNotSupported")]
    public static partial void OptionNotSupported(ILogger logger, string option, string platform, string reason);

    [LoggerMessage(3, LogLevel.Warning, "{Key} ({UserTimeout}) is shorter than Idle + Interval x ProbeCount ({KeepAliveSpan}) of policy {Policy}: Linux then ignores ProbeCount, and a dead idle peer is let go after {IdleBound} ({Probes} of {ProbeCount} probes).", EventName = "UserTimeoutCutsKeepAliveShort")]
    public static partial void UserTimeoutCutsKeepAliveShort(ILogger logger, string key, string userTimeout, string keepAliveSpan, string policy, string idleBound, int probes, int probeCount);

    [LoggerMessage(4, LogLevel.Information, "KeepAlive policy {Policy}: Enabled {Enabled}, Idle {Idle}, Interval {Interval}, ProbeCount {ProbeCount}, UserTimeout {UserTimeout}: {Bounds}. Sets {SocketOptions} on each accepted TCP connection.", EventName = "PolicyCreated")]
    public static partial void PolicyCreated(ILogger logger, string policy, bool enabled, string idle, string interval, int probeCount, string userTimeout, string bounds, string socketOptions);

    // One line per lost connection, no stack trace: an outage of thousands of clients stays readable.
    [LoggerMessage(5, LogLevel.Information, "Connection {ConnectionId} from {RemoteEndPoint} lost ({Cause}): {NoticedBy} ended it {SilenceSeconds} s after the peer's last sign of life. Policy {Policy}.", EventName = "ConnectionLost")]
    public static partial void ConnectionLost(ILogger logger, string connectionId, EndPoint? remoteEndPoint, string cause, string noticedBy, double? silenceSeconds, string policy);

    [LoggerMessage(6, LogLevel.Information, "KeepAlive configuration reloaded; the policies were applied again to {OpenConnections} open connections.", EventName = "PolicyReloaded")]
    public static partial void PolicyReloaded(ILogger logger, int openConnections);

    [LoggerMessage(7, LogLevel.Error, "KeepAlive configuration change rejected; the last good policies stay in force:" + "\n" + "{Failures}", EventName = "ReloadRejected")]
    public static partial void ReloadRejected(ILogger logger, string failures);

    [LoggerMessage(8, LogLevel.Warning, "KeepAlive:Endpoints cannot be applied to the endpoints of {Section}, at startup or on reload: this Kestrel version does not let the library see the app's own callbacks for them (kestrel.Configure().Endpoint(name, ...)). To give one a named policy, map it in code: kestrel.Configure().Endpoint(\"Http\", e => e.ListenOptions.UseKeepAlivePolicy(\"streaming\")).", EventName = "EndpointCallbacksHidden")]
    public static partial void EndpointCallbacksHidden(ILogger logger, string section);

    [LoggerMessage(9, LogLevel.Warning, "{Key} maps the Kestrel endpoint '{Endpoint}', added to {Section} after startup: Kestrel reads its endpoints at startup only, so the mapping takes effect after a restart; the rest of the change is applied.", EventName = "EndpointAddedAtRunTime")]
    public static partial void EndpointAddedAtRunTime(ILogger logger, string key, string endpoint, string section);

    [LoggerMessage(10, LogLevel.Warning, "{Key} ({UserTimeout}) is longer than Idle + Interval x ProbeCount ({KeepAliveSpan}) of policy {Policy}: Linux then ignores ProbeCount and keeps probing, and a dead idle peer is held {IdleBound} ({Probes} probes), not {KeepAliveSpan} ({ProbeCount} probes).", EventName = "UserTimeoutHoldsIdlePeerLonger")]
    public static partial void UserTimeoutHoldsIdlePeerLonger(ILogger logger, string key, string userTimeout, string keepAliveSpan, string policy, string idleBound, int probes, int probeCount);

    [LoggerMessage(11, LogLevel.Warning, "{Timer} ends a silent peer's connection about {EndsAfter} after its last sign of life, before policy {Policy} would ({UserTimeout} after the first unanswered send): those losses are counted as {Cause}; behind a proxy, {BehindProxy}.", EventName = "ApplicationTimerEndsFirst")]
    public static partial void ApplicationTimerEndsFirst(ILogger logger, string timer, string endsAfter, string policy, string userTimeout, string cause, string behindProxy);

    [LoggerMessage(12, LogLevel.Error, "KeepAlive configuration change could not be applied; the last good policies stay in force.", EventName = "ReloadFailed")]
    public static partial void ReloadFailed(ILogger logger, Exception exception);

    [LoggerMessage(13, LogLevel.Warning, "The configuration file {Path} is a symbolic link (to {Target}), as a Kubernetes ConfigMap is mounted, which .NET's default file watcher does not see swapped: its changes apply after a restart only (DOTNET_USE_POLLING_FILE_WATCHER=true watches it).", EventName = "ConfigurationFileNotWatched")]
    public static partial void ConfigurationFileNotWatched(ILogger logger, string path, string target);

    // The highest id is 13. A new event takes 14, and goes to docs/logging.md under its name.
}
