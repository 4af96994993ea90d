namespace KeepAlive.AspNetCore.Outage;

/// <summary>
/// The highest working set and managed heap this process reached while it ran: sampled every 20 ms on a
/// background thread (a peak shorter than that may be missed; the kernel's own high-water mark, VmHWM,
/// is read as well).
/// </summary>
internal sealed class PeakMemory : IAsyncDisposable
{
    // Stopped by disposing it, not by a cancellation: a cancelled wait captures a stack trace with source
    // lines, which loads two assemblies into the process being measured.
    private readonly PeriodicTimer _timer = new(TimeSpan.FromMilliseconds(20));
    private readonly Task _sampling;

    private PeakMemory() => _sampling = Task.Run(SampleAsync);

    public long WorkingSetBytes { get; private set; }

    /// <summary>The managed heap's size as a collection left it (fragmentation included).</summary>
    public long HeapSizeBytes { get; private set; }

    /// <summary>The memory the collector had committed from the OS.</summary>
    public long CommittedBytes { get; private set; }

    public static PeakMemory Start() => new();

    /// <summary>The kernel's high-water mark of this process's resident set (VmHWM), over its whole life.</summary>
    public static long ResidentHighWaterMarkBytes() =>
        File.ReadLines("/proc/self/status").FirstOrDefault(l => l.StartsWith("VmHWM:", StringComparison.Ordinal)) is { } line
            ? long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture) * 1024
            : 0;

    public async ValueTask DisposeAsync()
    {
        _timer.Dispose();
        await _sampling;
    }

    private async Task SampleAsync()
    {
        do
        {
            var gc = GC.GetGCMemoryInfo();
            WorkingSetBytes = Math.Max(WorkingSetBytes, Environment.WorkingSet);
            HeapSizeBytes = Math.Max(HeapSizeBytes, gc.HeapSizeBytes);
            CommittedBytes = Math.Max(CommittedBytes, gc.TotalCommittedBytes);
        }
        while (await _timer.WaitForNextTickAsync());
    }
}
