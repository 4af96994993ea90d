using System.Diagnostics;
using System.Globalization;
using System.Net;

namespace KeepAlive.AspNetCore.Outage;

/// <summary>
/// The clients, in a process of their own: 10,000 server sockets and 10,000 client sockets do not fit in
/// one process under this machine's hard descriptor limit (20,000), which a user namespace cannot raise.
/// It reads one command per line on stdin and answers one line on stdout:
/// <c>open SERVER_IP PORT FROM_IP COUNT</c> → <c>opened SECONDS</c>; <c>close FROM_IP</c> (FIN) → <c>closed</c>;
/// <c>abandon FROM_IP</c> (SO_LINGER 0) → <c>abandoned</c>; <c>open-ticks</c> and <c>open-ws</c>, as <c>open</c>, for ticking
/// streams and WebSockets; <c>probe-start SERVER_IP PORT FROM_IP</c> → <c>probing</c> and <c>probe-stop</c> →
/// <c>latency REQUESTS ERRORS P50_MS P99_MS MAX_MS</c> (<see cref="LatencyProbe"/>); anything failing → <c>error MESSAGE</c>.
/// End of input ends it.
/// </summary>
internal static class ClientProcess
{
    public static async Task<int> RunAsync()
    {
        var groups = new Dictionary<IPAddress, (Action Close, Action Abandon)>();
        LatencyProbe? probe = null;
        string? line;
        while ((line = await Console.In.ReadLineAsync()) is not null)
        {
            var words = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            try
            {
                switch (words)
                {
                    case ["open", var server, var port, var from, var count]:
                        await OpenAsync(groups, server, port, from, count, async (endpoint, address, n) =>
                        {
                            var clients = await EventStreamClients.OpenAsync(endpoint, address, n, CancellationToken.None);
                            return (clients.Close, clients.Abandon);
                        });
                        break;
                    case ["open-ticks", var server, var port, var from, var count]:
                        await OpenAsync(groups, server, port, from, count, async (endpoint, address, n) =>
                        {
                            var clients = await TickingStreamClients.OpenAsync(endpoint, address, n);
                            return (clients.Close, clients.Abandon);
                        });
                        break;
                    case ["open-ws", var server, var port, var from, var count]:
                        await OpenAsync(groups, server, port, from, count, async (endpoint, address, n) =>
                        {
                            var clients = await WebSocketClients.OpenAsync(endpoint, address, n);
                            return (clients.Close, clients.Abandon);
                        });
                        break;
                    case ["probe-start", var server, var port, var from]:
                        probe = LatencyProbe.Start(Endpoint(server, port), IPAddress.Parse(from));
                        Answer("probing");
                        break;
                    case ["probe-stop"] when probe is not null:
                        Answer($"latency {await probe.StopAsync()}");
                        probe = null;
                        break;
                    case ["close", var from]:
                        Take(groups, from).Close();
                        Answer("closed");
                        break;
                    case ["abandon", var from]:
                        Take(groups, from).Abandon();
                        Answer("abandoned");
                        break;
                    default:
                        Answer($"error unknown command '{line}'");
                        break;
                }
            }
            catch (Exception ex)
            {
                Answer($"error {ex.GetType().Name}: {ex.Message.ReplaceLineEndings(" ")}");
            }
        }
        foreach (var clients in groups.Values)
            clients.Abandon();
        return 0;
    }

    private static async Task OpenAsync(
        Dictionary<IPAddress, (Action Close, Action Abandon)> groups, string server, string port, string from, string count,
        Func<IPEndPoint, IPAddress, int, Task<(Action Close, Action Abandon)>> open)
    {
        var started = Stopwatch.GetTimestamp();
        var address = IPAddress.Parse(from);
        groups[address] = await open(Endpoint(server, port), address, int.Parse(count, CultureInfo.InvariantCulture));
        Answer($"opened {Stopwatch.GetElapsedTime(started).TotalSeconds.ToString("F3", CultureInfo.InvariantCulture)}");
    }

    private static IPEndPoint Endpoint(string server, string port) => new(IPAddress.Parse(server), int.Parse(port, CultureInfo.InvariantCulture));

    private static (Action Close, Action Abandon) Take(Dictionary<IPAddress, (Action Close, Action Abandon)> groups, string from) =>
        groups.Remove(IPAddress.Parse(from), out var clients) ? clients : throw new InvalidOperationException($"No clients from {from}.");

    private static void Answer(string text)
    {
        Console.Out.WriteLine(text);
        Console.Out.Flush();
    }
}

/// <summary>The orchestrator's end of <see cref="ClientProcess"/>: starts it and sends it commands.</summary>
internal sealed class ClientProcessConnection : IAsyncDisposable
{
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromMinutes(2);
    private readonly Process _process;

    private ClientProcessConnection(Process process) => _process = process;

    public static ClientProcessConnection Start()
    {
        // This same program, in its "clients" mode: through its apphost, or through dotnet when run as a dll.
        var self = Environment.ProcessPath ?? throw new InvalidOperationException("No process path.");
        var start = new ProcessStartInfo(self) { RedirectStandardInput = true, RedirectStandardOutput = true, UseShellExecute = false };
        if (Path.GetFileNameWithoutExtension(self) == "dotnet")
            start.ArgumentList.Add(typeof(ClientProcess).Assembly.Location);
        start.ArgumentList.Add("clients");
        return new ClientProcessConnection(Process.Start(start) ?? throw new InvalidOperationException("Could not start the client process."));
    }

    public int ProcessId => _process.Id;

    /// <summary>Opens <paramref name="count"/> streams from <paramref name="from"/>; returns how long that took.</summary>
    public Task<TimeSpan> OpenAsync(IPEndPoint server, IPAddress from, int count) => OpenAsync("open", server, from, count);

    /// <summary>Opens <paramref name="count"/> clients of <paramref name="kind"/> (<c>open</c>, <c>open-ticks</c>, <c>open-ws</c>) from <paramref name="from"/>.</summary>
    public async Task<TimeSpan> OpenAsync(string kind, IPEndPoint server, IPAddress from, int count)
    {
        var answer = await SendAsync($"{kind} {server.Address} {server.Port} {from} {count}", "opened");
        return TimeSpan.FromSeconds(double.Parse(answer, CultureInfo.InvariantCulture));
    }

    public Task StartProbeAsync(IPEndPoint server, IPAddress from) => SendAsync($"probe-start {server.Address} {server.Port} {from}", "probing");

    /// <summary>Stops the latency probe: <c>REQUESTS ERRORS P50_MS P99_MS MAX_MS</c>.</summary>
    public Task<string> StopProbeAsync() => SendAsync("probe-stop", "latency");

    public Task CloseAsync(IPAddress from) => SendAsync($"close {from}", "closed");

    public Task AbandonAsync(IPAddress from) => SendAsync($"abandon {from}", "abandoned");

    /// <summary>The client process's open descriptors.</summary>
    public int FileDescriptors => Directory.GetFiles($"/proc/{_process.Id}/fd").Length;

    public async ValueTask DisposeAsync()
    {
        _process.StandardInput.Close();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        try
        {
            await _process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            _process.Kill();
        }
        _process.Dispose();
    }

    private async Task<string> SendAsync(string command, string expected)
    {
        await _process.StandardInput.WriteLineAsync(command);
        await _process.StandardInput.FlushAsync();
        using var timeout = new CancellationTokenSource(CommandTimeout);
        var answer = await _process.StandardOutput.ReadLineAsync(timeout.Token)
            ?? throw new InvalidOperationException($"The client process ended on '{command}'.");
        if (answer == expected || answer.StartsWith(expected + " ", StringComparison.Ordinal))
            return answer[expected.Length..].Trim();
        throw new InvalidOperationException($"The client process answered '{answer}' to '{command}'.");
    }
}
