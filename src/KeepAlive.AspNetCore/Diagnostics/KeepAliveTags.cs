namespace KeepAlive.AspNetCore;

/// <summary>
/// The attribute names of the library's instruments and of the tags it adds to Kestrel's <c>kestrel.connection.duration</c>:
/// OpenTelemetry's semantic conventions where one fits, <c>keepalive.*</c> for the library's own.
/// </summary>
internal static class KeepAliveTags
{
    /// <summary>The listening endpoint's address (semantic conventions).</summary>
    public const string ServerAddress = "server.address";

    /// <summary>The listening endpoint's port (semantic conventions).</summary>
    public const string ServerPort = "server.port";

    /// <summary><c>ipv4</c> or <c>ipv6</c>, of the listening socket (semantic conventions).</summary>
    public const string NetworkType = "network.type";

    /// <summary>The cause of a lost connection, or the socket error of a policy error (semantic conventions).</summary>
    public const string ErrorType = "error.type";

    /// <summary>The policy in force.</summary>
    public const string Policy = "keepalive.policy";

    /// <summary>How an open connection's peer is answering (<see cref="ConnectionState"/>).</summary>
    public const string ConnectionState = "keepalive.connection.state";

    /// <summary>The socket option a policy error is about (<c>TCP_KEEPIDLE</c>, ...).</summary>
    public const string Option = "keepalive.option";
}
