using System.Net.Sockets;

namespace KeepAlive.AspNetCore;

/// <summary>
/// One socket option of a policy, resolved for this platform at startup, so that setting it on a
/// connection is a single setsockopt call that allocates nothing.
/// </summary>
internal sealed class KeepAliveSocketOption
{
    private readonly SocketOptionLevel _level;
    private readonly SocketOptionName _name;
    private readonly byte[]? _rawValue;

    private KeepAliveSocketOption(string kernelName, SocketOptionLevel level, SocketOptionName name, int value, bool raw = false)
    {
        KernelName = kernelName;
        _level = level;
        _name = name;
        Value = value;
        _rawValue = raw ? BitConverter.GetBytes(value) : null;
    }

    /// <summary>The kernel's name for the option, as logs show it (e.g. <c>TCP_KEEPIDLE</c>).</summary>
    public string KernelName { get; }

    /// <summary>The value in the platform's unit: 0/1, seconds, a count, or milliseconds.</summary>
    public int Value { get; }

    public void ApplyTo(Socket socket)
    {
        if (_rawValue is null)
            socket.SetSocketOption(_level, _name, Value);
        else
            socket.SetRawSocketOption((int)_level, (int)_name, _rawValue);
    }

    /// <summary>Whether the socket has this option at this value, read back with getsockopt.</summary>
    public bool IsAppliedTo(Socket socket)
    {
        if (_rawValue is null)
        {
            var value = (int)socket.GetSocketOption(_level, _name)!;
            // SO_KEEPALIVE reads back as any non-zero value on some platforms.
            return _name == SocketOptionName.KeepAlive ? (value != 0) == (Value != 0) : value == Value;
        }
        Span<byte> raw = stackalloc byte[sizeof(int)];
        return socket.GetRawSocketOption((int)_level, (int)_name, raw) == sizeof(int) && BitConverter.ToInt32(raw) == Value;
    }

    // The four keepalive options go through .NET's SocketOptionName, which maps them to each platform's
    // numbers (macOS calls TCP_KEEPIDLE TCP_KEEPALIVE). Values in seconds and a count.
    public static KeepAliveSocketOption KeepAlive(bool enabled) =>
        new("SO_KEEPALIVE", SocketOptionLevel.Socket, SocketOptionName.KeepAlive, enabled ? 1 : 0);

    public static KeepAliveSocketOption Idle(TimeSpan idle) =>
        new("TCP_KEEPIDLE", SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveTime, (int)idle.TotalSeconds);

    public static KeepAliveSocketOption Interval(TimeSpan interval) =>
        new("TCP_KEEPINTVL", SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveInterval, (int)interval.TotalSeconds);

    public static KeepAliveSocketOption ProbeCount(int count) =>
        new("TCP_KEEPCNT", SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveRetryCount, count);

    /// <summary>
    /// The bound on unacknowledged data, which .NET does not expose: TCP_USER_TIMEOUT (Linux, IPPROTO_TCP 18,
    /// milliseconds), TCP_MAXRT (Windows, 5, seconds) or TCP_RXT_CONNDROPTIME (macOS, 0x80, seconds).
    /// Seconds are rounded up so the bound is never shorter than configured. <see langword="null"/> where
    /// the platform has none.
    /// </summary>
    public static KeepAliveSocketOption? UserTimeout(TimeSpan timeout)
    {
        if (OperatingSystem.IsLinux())
            return new("TCP_USER_TIMEOUT", SocketOptionLevel.Tcp, (SocketOptionName)18, (int)timeout.TotalMilliseconds, raw: true);
        var seconds = (int)Math.Ceiling(timeout.TotalSeconds);
        if (OperatingSystem.IsWindows())
            return new("TCP_MAXRT", SocketOptionLevel.Tcp, (SocketOptionName)5, seconds, raw: true);
        if (OperatingSystem.IsMacOS())
            return new("TCP_RXT_CONNDROPTIME", SocketOptionLevel.Tcp, (SocketOptionName)0x80, seconds, raw: true);
        return null;
    }
}
