using BenchmarkDotNet.Attributes;

namespace KeepAlive.AspNetCore.Benchmarks;

/// <summary>A plain listener (the baseline) and one through the library's decorator, up for the whole run.</summary>
public abstract class LoopbackListeners
{
    internal LoopbackListener Plain { get; private set; } = null!;

    internal LoopbackListener Policy { get; private set; } = null!;

    [GlobalSetup]
    public async Task SetupAsync()
    {
        Plain = await LoopbackListener.BindAsync(withPolicy: false);
        Policy = await LoopbackListener.BindAsync(withPolicy: true);
    }

    [GlobalCleanup]
    public async Task CleanupAsync()
    {
        await Plain.DisposeAsync();
        await Policy.DisposeAsync();
    }
}
