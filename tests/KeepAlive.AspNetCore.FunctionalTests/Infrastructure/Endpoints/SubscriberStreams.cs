using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace KeepAlive.AspNetCore.FunctionalTests.Infrastructure.Endpoints;

/// <summary>
/// <c>GET /events</c> for many subscribers at once: each request gets a server-sent event stream that
/// flushes a first event (<c>data: open</c>) and then stays silent until the connection ends. The app's
/// view is kept per client address (<see cref="From"/>): how many streams opened and how many saw
/// <c>RequestAborted</c>, and when the first and last of those fired. Counters only, nothing per
/// connection, so the endpoint's own memory does not grow with the streams it serves.
/// </summary>
internal sealed class SubscriberStreams
{
    public const string Path = "/events";
    public const string FirstEvent = "data: open\n\n";
    public const string Request = $"GET {Path} HTTP/1.1\r\nHost: x\r\n\r\n";

    private readonly ConcurrentDictionary<IPAddress, Subscribers> _byAddress = new();
    private readonly Subscribers _unknown = new(IPAddress.None);

    /// <summary>The subscribers from <paramref name="address"/>; ask before they connect.</summary>
    public Subscribers From(IPAddress address) => _byAddress.GetOrAdd(address, a => new Subscribers(a));

    /// <summary>Streams from addresses nobody asked about (there should be none).</summary>
    public Subscribers Unknown => _unknown;

    public void MapTo(WebApplication app) => app.MapGet(Path, StreamAsync);

    private async Task StreamAsync(HttpContext context)
    {
        var subscribers = context.Connection.RemoteIpAddress is { } remote && _byAddress.TryGetValue(remote, out var known) ? known : _unknown;
        subscribers.OnOpened();
        // The callback runs inside Cancel, so the timestamp is the moment Kestrel aborted the request.
        using var aborted = context.RequestAborted.UnsafeRegister(static s => ((Subscribers)s!).OnAborted(), subscribers);

        // Also end on shutdown, so that disposing the app does not wait for a stream to a vanished peer.
        var stopping = context.RequestServices.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping;
        using var ended = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, stopping);

        context.Response.ContentType = "text/event-stream";
        try
        {
            await context.Response.WriteAsync(FirstEvent, ended.Token);
            await context.Response.Body.FlushAsync(ended.Token);
            await Task.Delay(Timeout.Infinite, ended.Token);
        }
        catch (Exception) when (ended.IsCancellationRequested)
        {
        }
    }

    /// <summary>The streams opened from one client address, as the app saw them.</summary>
    public sealed class Subscribers(IPAddress address)
    {
        private int _opened, _aborted;
        private long _firstAborted = long.MaxValue, _lastAborted;

        public IPAddress Address => address;

        /// <summary>Streams that reached the app.</summary>
        public int Opened => Volatile.Read(ref _opened);

        /// <summary>Streams whose <c>RequestAborted</c> fired.</summary>
        public int Aborted => Volatile.Read(ref _aborted);

        /// <summary>The <see cref="Stopwatch"/> timestamp of the first <c>RequestAborted</c>.</summary>
        public long FirstAborted => Interlocked.Read(ref _firstAborted);

        /// <summary>The <see cref="Stopwatch"/> timestamp of the last <c>RequestAborted</c>.</summary>
        public long LastAborted => Interlocked.Read(ref _lastAborted);

        internal void OnOpened() => Interlocked.Increment(ref _opened);

        internal void OnAborted()
        {
            var now = Stopwatch.GetTimestamp();
            for (var first = FirstAborted; now < first && Interlocked.CompareExchange(ref _firstAborted, now, first) != first; first = FirstAborted)
            {
            }
            for (var last = LastAborted; now > last && Interlocked.CompareExchange(ref _lastAborted, now, last) != last; last = LastAborted)
            {
            }
            // Counted last: whoever sees all of them aborted also sees the last timestamp.
            Interlocked.Increment(ref _aborted);
        }
    }
}
