using System.Runtime.InteropServices;

namespace KeepAlive.AspNetCore.Outage;

/// <summary>The calling thread's CPU time (CLOCK_THREAD_CPUTIME_ID): what a synchronous call itself cost, whatever else the process did meanwhile.</summary>
internal static partial class ThreadCpu
{
    private const int ClockThreadCpuTime = 3;

    public static TimeSpan Now()
    {
        if (clock_gettime(ClockThreadCpuTime, out var time) != 0)
            throw new InvalidOperationException($"clock_gettime failed: errno {Marshal.GetLastPInvokeError()}.");
        return TimeSpan.FromTicks(time.Seconds * TimeSpan.TicksPerSecond + time.Nanoseconds / 100);
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct Timespec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int clock_gettime(int clock, out Timespec time);
}
