using System.Collections.Concurrent;

namespace KeepAlive.AspNetCore.FunctionalTests.Infrastructure.Workloads;

/// <summary>
/// How the app would abort each of its live clients, as apps do for their own reasons: <c>HttpContext.Abort()</c> for a
/// stream, <c>WebSocket.Abort()</c>, SignalR's <c>Context.Abort()</c>. A service of the workload's app.
/// </summary>
internal sealed class AppAborts
{
    private readonly ConcurrentDictionary<int, Action> _aborts = new();
    private int _next;

    /// <summary>Remembers how to abort one client until <paramref name="until"/> is canceled (its connection ended).</summary>
    public void Add(Action abort, CancellationToken until)
    {
        var id = Interlocked.Increment(ref _next);
        _aborts[id] = abort;
        until.Register(() => _aborts.TryRemove(id, out _));
    }

    /// <summary>Aborts every client still connected; how many.</summary>
    public int AbortAll()
    {
        var aborts = _aborts.Values.ToList();
        foreach (var abort in aborts)
            abort();
        return aborts.Count;
    }
}
