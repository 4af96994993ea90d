namespace KeepAlive.AspNetCore.FunctionalTests.Infrastructure.Network;

/// <summary>
/// How late Linux may fire a TCP timer: its timer wheel (kernel/time/timer.c) files a timer of n jiffies in the level
/// whose range holds n and fires it at that level's next granule, up to 8^level jiffies late. At HZ 250 the 60 s idle
/// is filed at 2.048 s granules and each 10 s probe interval at 0.256 s ones: the defaults' 2 min may be 3.6 s late,
/// measured 2.7 s late here. Short timers are barely late (a 1 s timer by up to 32 ms).
/// </summary>
internal static class KernelTimerWheel
{
    private static readonly int Hz = ReadHz();

    /// <summary>The most the kernel's keepalive timers of a policy can add to its bound.</summary>
    public static TimeSpan KeepAliveSlack(TimeSpan idle, TimeSpan interval, int probeCount) =>
        Granule(idle) + probeCount * Granule(interval);

    private static TimeSpan Granule(TimeSpan timer)
    {
        var jiffies = (long)(timer.TotalSeconds * Hz);
        var level = 0;
        while (jiffies >= 63L << (3 * level)) // level n holds [63 << 3(n-1), 63 << 3n) jiffies
            level++;
        return TimeSpan.FromSeconds((double)(1L << (3 * level)) / Hz);
    }

    // CONFIG_HZ of the running kernel; 100 (the coarsest granules in seconds) when its configuration cannot be read.
    private static int ReadHz()
    {
        var config = $"/boot/config-{File.ReadAllText("/proc/sys/kernel/osrelease").Trim()}";
        var line = File.Exists(config) ? File.ReadLines(config).FirstOrDefault(l => l.StartsWith("CONFIG_HZ=", StringComparison.Ordinal)) : null;
        return line is not null && int.TryParse(line["CONFIG_HZ=".Length..], out var hz) ? hz : 100;
    }
}
