using System.Diagnostics;
using System.Net;

namespace KeepAlive.AspNetCore.Outage;

/// <summary>
/// One nftables table that drops every packet to and from some client addresses as it arrives (input hook): the
/// server's packets leave its TCP stack normally and are lost, as on a real network (no FIN, RST or ICMP), and nothing
/// the clients' hosts send reaches the server either, not even the resets of those that restart and forget their
/// connections. Refuses to run outside a private network namespace.
/// </summary>
internal sealed class NetworkCut : IAsyncDisposable
{
    private const string Table = "outage_benchmark";
    private bool _cut;

    /// <summary>Whether this process is in a private network namespace: <c>/proc/self/net/dev</c> lists only <c>lo</c>.</summary>
    public static bool InPrivateNamespace =>
        File.Exists("/proc/self/net/dev") &&
        File.ReadAllLines("/proc/self/net/dev").Skip(2).Select(l => l.Split(':', 2)[0].Trim()).Where(n => n.Length > 0).SequenceEqual(["lo"]);

    /// <summary>Drops everything to and from <paramref name="addresses"/>; returns the <see cref="Stopwatch"/> timestamp at which the rules were in place.</summary>
    public async Task<long> CutAsync(params IPAddress[] addresses)
    {
        var set = string.Join(", ", addresses.Select(a => a.ToString()));
        await RunAsync(
            $"add table inet {Table}",
            $"add chain inet {Table} input {{ type filter hook input priority 0; policy accept; }}",
            $"add rule inet {Table} input ip daddr {{ {set} }} drop",
            $"add rule inet {Table} input ip saddr {{ {set} }} drop");
        _cut = true;
        return Stopwatch.GetTimestamp();
    }

    /// <summary>Deletes the table: packets flow again.</summary>
    public async Task RestoreAsync()
    {
        if (!_cut)
            return;
        await RunAsync($"delete table inet {Table}");
        _cut = false;
    }

    public async ValueTask DisposeAsync() => await RestoreAsync();

    private static async Task RunAsync(params string[] commands)
    {
        if (!InPrivateNamespace)
            throw new InvalidOperationException("Refusing to change nftables rules outside a private network namespace: run `bash benchmarks/outage.sh`.");
        var nft = new[] { "/usr/sbin/nft", "/sbin/nft", "/usr/bin/nft" }.FirstOrDefault(File.Exists)
            ?? throw new InvalidOperationException("nft is not installed: apt-get install nftables.");
        var start = new ProcessStartInfo(nft)
        {
            ArgumentList = { "-f", "-" },
            RedirectStandardInput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        using var process = Process.Start(start)!;
        using var standardError = process.StandardError;
        // One script is one nftables transaction.
        await process.StandardInput.WriteAsync(string.Join('\n', commands) + "\n");
        process.StandardInput.Close();
        var error = standardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await process.WaitForExitAsync(timeout.Token);
        if (process.ExitCode != 0)
            throw new InvalidOperationException($"nft exited with {process.ExitCode}: {await error}");
    }
}
