using System.Diagnostics;
using System.Net.Sockets;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;

namespace KeepAlive.AspNetCore.FunctionalTests.Descriptors;

/// <summary>
/// What the library holds while writes wait for readers that stopped reading: a second descriptor of each socket, under
/// a policy with a user timeout only, close-on-exec, so a child process the app starts inherits no client's connection.
/// </summary>
public class StalledReaderDescriptorTests
{
    [Fact]
    public async Task A_child_process_started_while_writes_wait_holds_no_socket()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "Descriptors are duplicated on Linux only.");
        var stream = new FloodEndpoint();
        await using var app = await StartAsync(stream, userTimeout: "00:00:30");
        var stalled = await StallAsync(app, stream, readers: 5);
        try
        {
            // The duplicates are held: without them the test would prove nothing.
            Assert.All(stalled.KernelSockets, s => Assert.Equal(2, OpenDescriptors.Naming(s)));

            using var child = Process.Start(new ProcessStartInfo("sleep", "10") { UseShellExecute = false })!;
            try
            {
                var inherited = OpenDescriptors.Of(child.Id);
                TestContext.Current.TestOutputHelper?.WriteLine($"the child holds: {string.Join(", ", inherited)}");
                Assert.DoesNotContain(inherited, target => target.StartsWith("socket:", StringComparison.Ordinal));
            }
            finally
            {
                child.Kill();
            }
        }
        finally
        {
            stalled.Dispose();
        }
    }

    // docs/deployment.md's figure for sizing LimitNOFILE: one more descriptor per waiting write, and only where a verdict can come.
    [Theory]
    [InlineData("00:00:30", 2)]
    [InlineData("00:00:00", 1)]
    public async Task A_stalled_reader_costs_two_descriptors_with_a_user_timeout_and_one_without(string userTimeout, int descriptors)
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "Descriptors are duplicated on Linux only.");
        var stream = new FloodEndpoint();
        await using var app = await StartAsync(stream, userTimeout);
        var stalled = await StallAsync(app, stream, readers: 10);
        try
        {
            Assert.All(stalled.KernelSockets, s => Assert.Equal(descriptors, OpenDescriptors.Naming(s)));
        }
        finally
        {
            stalled.Dispose();
        }
        // And let go with the connections: none is left naming a socket that is gone.
        await Eventually.HoldsAsync(() => stalled.KernelSockets.All(s => OpenDescriptors.Naming(s) == 0),
            "every descriptor of the stalled readers' sockets being closed", TimeSpan.FromSeconds(10));
    }

    private static Task<KestrelApp> StartAsync(FloodEndpoint stream, string userTimeout) =>
        KestrelApp.StartAsync(b =>
        {
            b.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { ["KeepAlive:UserTimeout"] = userTimeout });
            b.UseKeepAlivePolicy();
        }, stream.MapTo);

    // Readers that stop reading, one stream each, until every server-side write waits on a closed window.
    private static async Task<Stalled> StallAsync(KestrelApp app, FloodEndpoint stream, int readers)
    {
        var clients = new List<StallingClient>();
        try
        {
            for (var i = 0; i < readers; i++)
                clients.Add(await StallingClient.ConnectAsync(app.BaseAddress));
            await Eventually.HoldsAsync(() => stream.Connections.Count == readers, "every stream reaching the app", TimeSpan.FromSeconds(10));
            var servers = stream.Connections.ToList();
            await Eventually.HoldsAsync(
                () => servers.All(s => TcpConnectionInfo.TryRead(s.Socket, out var info) && info.WindowClosedWithDataWaiting),
                "every reader's window closing with data waiting", TimeSpan.FromSeconds(10));
            // The write that waits starts a moment after the window closes.
            await Task.Delay(TimeSpan.FromMilliseconds(200), TestContext.Current.CancellationToken);
            return new Stalled(clients, servers.Select(s => OpenDescriptors.KernelSocket(s.Socket)).ToList());
        }
        catch
        {
            clients.ForEach(c => c.Dispose());
            throw;
        }
    }

    // The server-side kernel sockets (socket:[inode]), named while open, so that they can be looked for once closed.
    private sealed record Stalled(List<StallingClient> Clients, List<string> KernelSockets) : IDisposable
    {
        public void Dispose() => Clients.ForEach(c => c.Dispose());
    }
}
