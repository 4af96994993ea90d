using System.Net;
using System.Net.Sockets;
using BenchmarkDotNet.Attributes;

namespace KeepAlive.AspNetCore.Benchmarks;

/// <summary>
/// The system calls the library makes per connection, alone, on an accepted loopback socket, through
/// the same public Socket calls it uses (KeepAliveSocketOption.Apply, TcpConnectionInfo.TryRead): five
/// setsockopt when the connection is accepted (the defaults: SO_KEEPALIVE 1, TCP_KEEPIDLE 60,
/// TCP_KEEPINTVL 10, TCP_KEEPCNT 6, TCP_USER_TIMEOUT 120000 ms), and one getsockopt(TCP_INFO) when the
/// connection ends through ConnectionContext.Abort.
/// </summary>
[MemoryDiagnoser]
[Config(typeof(BenchmarkConfig))]
[SimpleJob(launchCount: 1, warmupCount: 5, iterationCount: 15)]
public class SocketOptionBenchmarks
{
    private static readonly byte[] UserTimeout = BitConverter.GetBytes(120_000);
    private Socket _listener = null!;
    private Socket _client = null!;
    private Socket _server = null!;

    [GlobalSetup]
    public void Setup()
    {
        _listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _listener.Listen();
        _client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        _client.Connect(_listener.LocalEndPoint!);
        _server = _listener.Accept();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _server.Dispose();
        _client.Dispose();
        _listener.Dispose();
    }

    [Benchmark]
    public void SetFivePolicyOptions()
    {
        _server.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.KeepAlive, 1);
        _server.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveTime, 60);
        _server.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveInterval, 10);
        _server.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveRetryCount, 6);
        _server.SetRawSocketOption((int)SocketOptionLevel.Tcp, 18, UserTimeout); // TCP_USER_TIMEOUT
    }

    [Benchmark]
    public int ReadTcpInfo()
    {
        Span<byte> buffer = stackalloc byte[60];
        return _server.GetRawSocketOption((int)SocketOptionLevel.Tcp, 11, buffer); // TCP_INFO
    }
}
