using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace KeepAlive.AspNetCore.Benchmarks;

/// <summary>
/// Kestrel's socket transport bound to 127.0.0.1:0, as an app gets it from DI: the plain transport, or,
/// after <c>UseKeepAlivePolicy()</c>, the library's decorator around it (with the library's defaults, set
/// on the listening socket on Linux and inherited by each accepted connection). Only public API: the library's types are internal.
/// </summary>
internal sealed class LoopbackListener : IAsyncDisposable
{
    private readonly WebApplication _app;

    private LoopbackListener(WebApplication app, IConnectionListener listener)
    {
        _app = app;
        Listener = listener;
    }

    public IConnectionListener Listener { get; }

    public IPEndPoint EndPoint => (IPEndPoint)Listener.EndPoint;

    /// <summary>The app's services (its <c>IMeterFactory</c>, to listen to this app's meter only).</summary>
    public IServiceProvider Services => _app.Services;

    /// <param name="withPolicy">With <c>UseKeepAlivePolicy()</c>.</param>
    /// <param name="address">Where to bind: 127.0.0.1 when not given.</param>
    public static async Task<LoopbackListener> BindAsync(bool withPolicy, IPAddress? address = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        if (withPolicy)
            builder.UseKeepAlivePolicy();
        var app = builder.Build();

        var endPoint = new IPEndPoint(address ?? IPAddress.Loopback, 0);
        // Kestrel registers a transport per kind (sockets, named pipes); it binds an IP endpoint with the first that can.
        var factory = app.Services.GetServices<IConnectionListenerFactory>()
            .First(f => f is not IConnectionListenerFactorySelector selector || selector.CanBind(endPoint));
        var isDecorated = !factory.GetType().Namespace!.StartsWith("Microsoft.", StringComparison.Ordinal);
        if (isDecorated != withPolicy)
            throw new InvalidOperationException($"Expected {(withPolicy ? "the library's decorator" : "Kestrel's own transport")}, got {factory.GetType()}.");

        return new LoopbackListener(app, await factory.BindAsync(endPoint));
    }

    public async ValueTask DisposeAsync()
    {
        await Listener.UnbindAsync();
        await Listener.DisposeAsync();
        await _app.DisposeAsync();
    }
}
