using System.Diagnostics;
using System.Net;

namespace KeepAlive.AspNetCore.FunctionalTests.Infrastructure.Network;

/// <summary>
/// One nftables table of drop rules, owned by one test and deleted when it is disposed. Each test gets
/// its own table so tests running in parallel never touch each other's rules. Every change checks
/// first that the process is in a private network namespace.
/// </summary>
internal sealed class Nftables : IAsyncDisposable
{
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromSeconds(10);
    private readonly string _table;
    private bool _created;

    public Nftables(string table) => _table = table;

    /// <summary>The nft executable, or <see langword="null"/> when nftables is not installed.</summary>
    public static string? ExecutablePath { get; } = FindExecutable();

    /// <summary>
    /// Drops every packet addressed to <paramref name="address"/> as it arrives (input hook): what the
    /// server sends leaves its TCP stack normally and is lost on the way, as on a real network (no FIN,
    /// no RST, no ICMP). An output-hook drop would make the server's own sends fail locally instead.
    /// </summary>
    public Task DropIncomingToAsync(IPAddress address) => ApplyAsync(
        $"add chain inet {_table} input {{ type filter hook input priority 0; policy accept; }}",
        $"add rule inet {_table} input ip daddr {address} drop");

    /// <summary>
    /// Drops every packet to and from <paramref name="address"/> as it arrives: a client that vanished entirely, whose own
    /// sends (a SignalR client's pings, say) stop reaching the server too.
    /// </summary>
    public Task DropAllOfAsync(IPAddress address) => ApplyAsync(
        $"add chain inet {_table} input {{ type filter hook input priority 0; policy accept; }}",
        $"add rule inet {_table} input ip daddr {address} drop",
        $"add rule inet {_table} input ip saddr {address} drop");

    /// <summary>
    /// Answers every packet addressed to <paramref name="address"/> with ICMP host-unreachable, as a
    /// router does when the peer's network is gone.
    /// </summary>
    public Task RejectIncomingToAsync(IPAddress address) => ApplyAsync(
        $"add chain inet {_table} input {{ type filter hook input priority 0; policy accept; }}",
        $"add rule inet {_table} input ip daddr {address} reject with icmp type host-unreachable");

    /// <summary>Drops every packet <paramref name="source"/> sends (output hook), e.g. the reset of an abortive close.</summary>
    public Task DropOutgoingFromAsync(IPEndPoint source) => ApplyAsync(
        $"add chain inet {_table} output {{ type filter hook output priority 0; policy accept; }}",
        $"add rule inet {_table} output ip saddr {source.Address} tcp sport {source.Port} drop");

    /// <summary>Deletes the table and with it every rule: packets flow again.</summary>
    public async Task LiftAsync()
    {
        if (!_created)
            return;
        await RunAsync($"delete table inet {_table}");
        _created = false;
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await LiftAsync();
        }
        catch (Exception ex)
        {
            // The table dies with the namespace at the end of the run anyway; do not hide the test's own outcome.
            TestContext.Current.TestOutputHelper?.WriteLine($"Could not delete nftables table {_table}: {ex.Message}");
        }
    }

    private async Task ApplyAsync(params string[] commands)
    {
        // One script is one nftables transaction: the table, chain and rule appear together or not at all.
        await RunAsync([$"add table inet {_table}", .. commands]);
        _created = true;
    }

    private static async Task RunAsync(params string[] commands)
    {
        PrivateNetworkNamespace.EnsureCurrent();
        var script = string.Join('\n', commands) + "\n";
        var start = new ProcessStartInfo(ExecutablePath ?? throw new InvalidOperationException("nft is not installed."))
        {
            ArgumentList = { "-f", "-" },
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        using var process = Process.Start(start)!;
        // Process.Dispose leaves a redirected stream open once it has been read: close them here rather than
        // leave two pipe descriptors per nft run to the finalizer.
        using var standardOutput = process.StandardOutput;
        using var standardError = process.StandardError;
        await process.StandardInput.WriteAsync(script);
        process.StandardInput.Close();
        var output = standardOutput.ReadToEndAsync();
        var error = standardError.ReadToEndAsync();

        using var timeout = new CancellationTokenSource(CommandTimeout);
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill();
            throw new TimeoutException($"nft did not finish within {CommandTimeout.TotalSeconds} s running:\n{script}");
        }

        if (process.ExitCode != 0)
            throw new InvalidOperationException($"nft exited with {process.ExitCode} running:\n{script}{await error}{await output}");
    }

    private static string? FindExecutable()
    {
        // Debian installs nft in /usr/sbin, which is not on every user's PATH.
        var directories = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Concat(["/usr/sbin", "/sbin", "/usr/bin", "/bin"]);
        return directories.Select(d => Path.Combine(d, "nft")).FirstOrDefault(File.Exists);
    }
}
