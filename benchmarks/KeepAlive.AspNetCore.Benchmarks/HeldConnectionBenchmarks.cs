using System.IO.Pipelines;
using System.Net.Sockets;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Engines;
using Microsoft.AspNetCore.Connections;

namespace KeepAlive.AspNetCore.Benchmarks;

/// <summary>
/// What an idle connection holds: accept a connection and leave a read pending on it, as Kestrel does
/// between requests, and keep it open. Each iteration holds <see cref="Connections"/> of them at once,
/// so nothing a pool could hand back from a closed connection hides what each one keeps; they are
/// closed after the iteration. Allocated bytes per operation here are what the memory benchmark's
/// 10,000 held connections keep, per connection.
/// </summary>
[MemoryDiagnoser]
[Config(typeof(BenchmarkConfig))]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory)]
[CategoriesColumn]
[SimpleJob(RunStrategy.Monitoring, launchCount: 1, warmupCount: 3, iterationCount: 15)]
[InvocationCount(Connections, unrollFactor: 1)]
public class HeldConnectionBenchmarks : LoopbackListeners
{
    private const int Connections = 1000;
    private readonly List<(Socket Client, ConnectionContext Server, ValueTask<ReadResult> Read)> _held = new(Connections);

    [Benchmark(Baseline = true), BenchmarkCategory("held idle")]
    public Task HeldIdle_Plain() => HoldAsync(Plain);

    [Benchmark, BenchmarkCategory("held idle")]
    public Task HeldIdle_KeepAlive() => HoldAsync(Policy);

    private async Task HoldAsync(LoopbackListener listener)
    {
        var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        client.Connect(listener.EndPoint); // connected first, so the accept completes at once (see ConnectionBenchmarks)
        var connection = await listener.Listener.AcceptAsync() ?? throw new InvalidOperationException("The listener was unbound.");
        _ = connection.Transport.Output;
        var read = connection.Transport.Input.ReadAsync(); // nothing was sent: it stays pending
        if (read.IsCompleted)
            throw new InvalidOperationException("The read completed: the connection is not idle.");
        _held.Add((client, connection, read));
    }

    [IterationCleanup]
    public void CloseHeld()
    {
        foreach (var (client, server, read) in _held)
        {
            server.Transport.Input.CancelPendingRead();
            read.AsTask().GetAwaiter().GetResult();
            server.DisposeAsync().AsTask().GetAwaiter().GetResult();
            client.LingerState = new LingerOption(true, 0);
            client.Dispose();
        }
        _held.Clear();
    }
}
