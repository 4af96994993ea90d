using System.Diagnostics;

namespace KeepAlive.AspNetCore.Testing;

/// <summary>
/// The tests' one poller, for what happens on another thread or in the kernel (a file watcher, Kestrel closing a
/// connection, a scrape): it reads, checks, and waits <c>every</c> between reads until <c>within</c> has passed since
/// it started. The kernel and the exporters count, they do not notify, hence polling. Linked into both test projects.
/// </summary>
internal static class Eventually
{
    /// <summary>How long a poll waits unless told: as long as the functional tests' loopback client (LoopbackClient.Timeout).</summary>
    public static readonly TimeSpan Within = TimeSpan.FromSeconds(30);

    /// <summary>How often it reads unless told.</summary>
    public static readonly TimeSpan Every = TimeSpan.FromMilliseconds(50);

    /// <summary>Polls <paramref name="condition"/> until it holds; fails, saying <paramref name="what"/> and <paramref name="state"/>, after <paramref name="within"/>.</summary>
    public static Task HoldsAsync(Func<bool> condition, string what, TimeSpan? within = null, TimeSpan? every = null, Func<string>? state = null) =>
        HoldsAsync(() => Task.FromResult(condition()), what, within, every, state);

    /// <inheritdoc cref="HoldsAsync(Func{bool}, string, TimeSpan?, TimeSpan?, Func{string}?)"/>
    public static Task HoldsAsync(Func<Task<bool>> condition, string what, TimeSpan? within = null, TimeSpan? every = null, Func<string>? state = null) =>
        ReadsAsync(condition, held => held, what, within, every, state is null ? null : _ => state());

    /// <summary>
    /// Polls <paramref name="read"/> until its value satisfies <paramref name="holds"/> and returns that value; fails after
    /// <paramref name="within"/>, saying <paramref name="what"/> and <paramref name="state"/> of the last value read.
    /// </summary>
    public static async Task<T> ReadsAsync<T>(Func<Task<T>> read, Func<T, bool> holds, string what, TimeSpan? within = null, TimeSpan? every = null, Func<T?, string>? state = null)
    {
        var limit = within ?? Within;
        var (held, last) = await PollAsync(read, holds, limit, every ?? Every);
        if (!held)
            Assert.Fail($"Not within {limit.TotalSeconds} s: {what}" + (state is null ? "." : $": {state(last)}"));
        return last!;
    }

    /// <summary>
    /// Polls <paramref name="read"/> until its value satisfies <paramref name="holds"/> or <paramref name="within"/> has
    /// passed, without failing: for a test whose own assertions say what went wrong. Returns the last value read.
    /// </summary>
    public static async Task<T> SettlesAsync<T>(Func<Task<T>> read, Func<T, bool> holds, TimeSpan within, TimeSpan? every = null) =>
        (await PollAsync(read, holds, within, every ?? Every)).Last!;

    /// <inheritdoc cref="SettlesAsync{T}(Func{Task{T}}, Func{T, bool}, TimeSpan, TimeSpan?)"/>
    public static async Task<bool> SettlesAsync(Func<bool> condition, TimeSpan within, TimeSpan? every = null) =>
        (await PollAsync(() => Task.FromResult(condition()), held => held, within, every ?? Every)).Held;

    private static async Task<(bool Held, T? Last)> PollAsync<T>(Func<Task<T>> read, Func<T, bool> holds, TimeSpan within, TimeSpan every)
    {
        var started = Stopwatch.GetTimestamp();
        while (true)
        {
            var value = await read();
            if (holds(value))
                return (true, value);
            if (Stopwatch.GetElapsedTime(started) > within)
                return (false, value);
            await Task.Delay(every, TestContext.Current.CancellationToken);
        }
    }
}
