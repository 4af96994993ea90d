using System.Diagnostics;
using KeepAlive.AspNetCore.FunctionalTests.ReadBack;

namespace KeepAlive.AspNetCore.FunctionalTests.Policies;

/// <summary>Bounded polling for what happens on another thread (a file watcher, Kestrel closing a connection).</summary>
internal static class Eventually
{
    /// <summary>Polls <paramref name="condition"/> every 50 ms until it holds; fails, saying <paramref name="what"/>, after <paramref name="timeout"/> (30 s).</summary>
    public static async Task HoldsAsync(Func<Task<bool>> condition, string what, TimeSpan? timeout = null)
    {
        var limit = timeout ?? LoopbackClient.Timeout;
        var elapsed = Stopwatch.StartNew();
        while (!await condition())
        {
            if (elapsed.Elapsed > limit)
                Assert.Fail($"Not within {limit.TotalSeconds} s: {what}");
            await Task.Delay(50, TestContext.Current.CancellationToken);
        }
    }

    /// <inheritdoc cref="HoldsAsync(Func{Task{bool}}, string, TimeSpan?)"/>
    public static Task HoldsAsync(Func<bool> condition, string what, TimeSpan? timeout = null) =>
        HoldsAsync(() => Task.FromResult(condition()), what, timeout);
}
