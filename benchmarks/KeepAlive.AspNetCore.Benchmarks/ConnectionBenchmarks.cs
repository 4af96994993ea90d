using System.Net.Sockets;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using Microsoft.AspNetCore.Connections;

namespace KeepAlive.AspNetCore.Benchmarks;

/// <summary>
/// A loopback connection accepted through Kestrel's socket transport, plain (the baseline) and through
/// the library's decorator: what the library adds per accepted connection, in time and in allocations.
/// The allocations are the whole process's (BenchmarkDotNet's MemoryDiagnoser counts every thread), the
/// client's socket included: the difference between the two rows is the library's.
/// </summary>
[MemoryDiagnoser]
[Config(typeof(BenchmarkConfig))]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory)]
[CategoriesColumn]
[SimpleJob(launchCount: 1, warmupCount: 5, iterationCount: 15)]
public class ConnectionBenchmarks : LoopbackListeners
{
    /// <summary>Connect, accept, close: the transport's work, plus the policy's socket options and wrapper.</summary>
    [Benchmark(Baseline = true), BenchmarkCategory("accept")]
    public Task Accept_Plain() => AcceptAsync(Plain, serve: false);

    [Benchmark, BenchmarkCategory("accept")]
    public Task Accept_KeepAlive() => AcceptAsync(Policy, serve: false);

    /// <summary>As Kestrel serves a connection: it reads the transport once, which creates the decorator's reader.</summary>
    [Benchmark(Baseline = true), BenchmarkCategory("accept+serve")]
    public Task AcceptServe_Plain() => AcceptAsync(Plain, serve: true);

    [Benchmark, BenchmarkCategory("accept+serve")]
    public Task AcceptServe_KeepAlive() => AcceptAsync(Policy, serve: true);

    private static async Task AcceptAsync(LoopbackListener listener, bool serve)
    {
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        // Connected first (loopback: the kernel completes the handshake), so the accept completes at once,
        // the same way every time: no thread hops to tell apart from the library's cost.
        client.Connect(listener.EndPoint);
        var connection = await listener.Listener.AcceptAsync() ?? throw new InvalidOperationException("The listener was unbound.");
        if (serve)
        {
            _ = connection.Transport.Input;
            _ = connection.Transport.Output;
        }
        await connection.DisposeAsync();
        // A reset, not a FIN: no TIME_WAIT left behind by hundreds of thousands of connections.
        client.LingerState = new LingerOption(true, 0);
    }
}
