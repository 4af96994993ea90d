using System.Diagnostics;

namespace KeepAlive.AspNetCore.FunctionalTests.Infrastructure;

/// <summary>Awaits what the server is expected to do (a request arriving, <c>RequestAborted</c>) for a bounded time.</summary>
internal static class Deadline
{
    /// <summary>Awaits <paramref name="task"/> for at most <paramref name="timeout"/>, failing with a message that says what did not happen.</summary>
    public static async Task<T> WithinAsync<T>(Task<T> task, TimeSpan timeout, string what)
    {
        try
        {
            return await task.WaitAsync(timeout, TestContext.Current.CancellationToken);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"{what} did not happen within {timeout.TotalSeconds:F0} s.");
        }
    }

    /// <summary>
    /// Waits until <paramref name="duration"/> has passed since the <see cref="Stopwatch"/> timestamp
    /// <paramref name="since"/>, or until <paramref name="task"/> completes, whichever is first.
    /// </summary>
    public static async Task WatchAsync(Task task, long since, TimeSpan duration)
    {
        // Task.Delay may wake a little early (timer granularity): wait again for what is left.
        TimeSpan remaining;
        while (!task.IsCompleted && (remaining = duration - Stopwatch.GetElapsedTime(since)) > TimeSpan.Zero)
            await Task.WhenAny(task, Task.Delay(remaining + TimeSpan.FromMilliseconds(1), TestContext.Current.CancellationToken));
    }
}
