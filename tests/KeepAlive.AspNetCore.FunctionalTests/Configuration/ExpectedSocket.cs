namespace KeepAlive.AspNetCore.FunctionalTests.Configuration;

/// <summary>
/// The keepalive options a policy puts on a socket. With <see cref="Enabled"/> off the library leaves Idle, Interval and
/// ProbeCount alone: the top level's socket reads the kernel's defaults, a named policy's whatever the socket had.
/// </summary>
internal sealed record ExpectedSocket(bool Enabled, int Idle, int Interval, int ProbeCount, int? UserTimeoutMilliseconds, bool TopLevel)
{
    public bool Matches(KernelSocketOptions read) =>
        Enabled ? read == new KernelSocketOptions(true, Idle, Interval, ProbeCount, UserTimeoutMilliseconds!.Value)
        : TopLevel ? read == KernelSocketOptions.LinuxDefaults with { UserTimeoutMilliseconds = UserTimeoutMilliseconds!.Value }
        : !read.KeepAlive && read.UserTimeoutMilliseconds == UserTimeoutMilliseconds;

    public override string ToString() => Enabled
        ? $"keepalive on, {Idle} s, {Interval} s, {ProbeCount} probes, user timeout {UserTimeoutMilliseconds} ms"
        : $"keepalive off, user timeout {UserTimeoutMilliseconds} ms";
}
