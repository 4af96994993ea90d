using System.IO.Pipelines;
using System.Net.Sockets;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using Microsoft.AspNetCore.Connections;

namespace KeepAlive.AspNetCore.Benchmarks;

/// <summary>
/// The per-request path on a persistent connection: the server waits for bytes (a pending read, as
/// Kestrel between requests), the client sends one, the read completes. Through the library's decorator
/// each read passes the decorator's reader, which is all the library does per request.
/// </summary>
/// <remarks>
/// <see cref="RoundTrips"/> reads per invocation, in one async flow, as Kestrel's connection loop reads
/// request after request: the continuation is the caller's async state machine, as it is in Kestrel.
/// </remarks>
[MemoryDiagnoser]
[Config(typeof(BenchmarkConfig))]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory)]
[CategoriesColumn]
[SimpleJob(launchCount: 1, warmupCount: 5, iterationCount: 15)]
public class ReadBenchmarks
{
    private static readonly byte[] OneByte = [(byte)'x'];
    private Connected _plain = null!;
    private Connected _policy = null!;

    [GlobalSetup]
    public async Task SetupAsync()
    {
        _plain = await Connected.OpenAsync(await LoopbackListener.BindAsync(withPolicy: false));
        _policy = await Connected.OpenAsync(await LoopbackListener.BindAsync(withPolicy: true));
    }

    [GlobalCleanup]
    public async Task CleanupAsync()
    {
        await _plain.DisposeAsync();
        await _policy.DisposeAsync();
    }

    private const int RoundTrips = 64;

    [Benchmark(Baseline = true, OperationsPerInvoke = RoundTrips), BenchmarkCategory("read")]
    public Task Read_Plain() => _plain.RoundTripsAsync(RoundTrips);

    [Benchmark(OperationsPerInvoke = RoundTrips), BenchmarkCategory("read")]
    public Task Read_KeepAlive() => _policy.RoundTripsAsync(RoundTrips);

    private sealed class Connected(LoopbackListener listener, Socket client, ConnectionContext server) : IAsyncDisposable
    {
        private readonly PipeReader _input = server.Transport.Input;

        public static async Task<Connected> OpenAsync(LoopbackListener listener)
        {
            var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            client.Connect(listener.EndPoint);
            var server = await listener.Listener.AcceptAsync() ?? throw new InvalidOperationException("The listener was unbound.");
            return new Connected(listener, client, server);
        }

        public async Task RoundTripsAsync(int count)
        {
            for (var i = 0; i < count; i++)
            {
                var read = _input.ReadAsync();
                client.Send(OneByte);
                var result = await read;
                _input.AdvanceTo(result.Buffer.End);
            }
        }

        public async ValueTask DisposeAsync()
        {
            client.Dispose();
            await server.DisposeAsync();
            await listener.DisposeAsync();
        }
    }
}
