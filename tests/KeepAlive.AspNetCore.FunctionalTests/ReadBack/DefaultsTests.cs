namespace KeepAlive.AspNetCore.FunctionalTests.ReadBack;

/// <summary>What a user gets without saying everything: defaults, an absent section, Enabled=false, a zero user timeout.</summary>
public class DefaultsTests
{
    [Fact]
    public async Task Without_the_policy_Kestrel_leaves_the_kernel_defaults()
    {
        // The baseline the Enabled=false cases compare with: neither Kestrel nor the host sets any of these.
        await using var app = await KestrelApp.StartAsync(_ => { });

        Assert.Equal(KernelSocketOptions.LinuxDefaults, await LoopbackClient.ReadOnNewConnectionAsync(app.BaseAddress));
    }

    [Fact]
    public async Task Absent_section_gives_the_library_defaults()
    {
        await using var app = await KestrelApp.StartAsync(b => b.UseKeepAlivePolicy());

        // 60 s idle, 10 s interval, 6 probes; user timeout 60 + 10 x 6 = 120 s.
        Assert.Equal(new KernelSocketOptions(true, 60, 10, 6, 120_000), await LoopbackClient.ReadOnNewConnectionAsync(app.BaseAddress));
    }

    [Theory]
    // A zero user timeout means "do not set it": the kernel's 0 (off) stays.
    [InlineData(new[] { "UserTimeout=00:00:00" }, true, 60, 10, 6, 0)]
    // An empty value is "absent": computed again.
    [InlineData(new[] { "UserTimeout=" }, true, 60, 10, 6, 120_000)]
    // Off: SO_KEEPALIVE off and nothing else set, even the values given; no computed user timeout.
    [InlineData(new[] { "Enabled=false" }, false, 7200, 75, 9, 0)]
    [InlineData(new[] { "Enabled=false", "Idle=00:00:30", "ProbeCount=3" }, false, 7200, 75, 9, 0)]
    // Off, but an explicit user timeout is still set: it bounds unacknowledged writes without keepalive.
    [InlineData(new[] { "Enabled=false", "UserTimeout=00:00:30" }, false, 7200, 75, 9, 30_000)]
    // Keys are case-insensitive, as everywhere in .NET configuration.
    [InlineData(new[] { "enabled=true", "idle=00:00:15", "probecount=2" }, true, 15, 10, 2, 35_000)]
    public async Task Configuration_section_reads_back(string[] section, bool keepAlive, int idle, int interval, int probeCount, int userTimeoutMs)
    {
        await using var app = await KestrelApp.StartAsync(b =>
        {
            KeepAliveSection.Add(b.Configuration, section);
            b.UseKeepAlivePolicy();
        });

        Assert.Equal(new KernelSocketOptions(keepAlive, idle, interval, probeCount, userTimeoutMs), await LoopbackClient.ReadOnNewConnectionAsync(app.BaseAddress));
    }
}
