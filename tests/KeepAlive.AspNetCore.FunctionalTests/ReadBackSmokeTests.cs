using KeepAlive.AspNetCore.FunctionalTests.Infrastructure;
using Microsoft.AspNetCore.Builder;

namespace KeepAlive.AspNetCore.FunctionalTests;

public class ReadBackSmokeTests
{
    [Fact]
    public async Task Code_configured_policy_reads_back_from_the_kernel()
    {
        await using var app = await KestrelApp.StartAsync(b => b.UseKeepAlivePolicy(o => { o.Idle = TimeSpan.FromSeconds(7); o.ProbeCount = 3; }));
        using var client = new HttpClient();
        var options = await KestrelApp.ReadServerSocketAsync(client, app.BaseAddress);
        Assert.Equal(new KernelSocketOptions(true, 7, 10, 3, 37_000), options);
    }
}
