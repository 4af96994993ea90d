using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace KeepAlive.AspNetCore.Benchmarks;

/// <summary>
/// Idle loopback clients in a process of their own: 10,000 server sockets and 10,000 client sockets do not fit in one
/// process under this machine's hard descriptor limit (20,000). <c>hold ADDRESS PORT COUNT</c> connects COUNT clients to
/// ADDRESS:PORT, answers <c>held COUNT</c> on stdout, and holds them until its stdin closes.
/// </summary>
internal static class HeldClients
{
    public static async Task<int> RunAsync(IPEndPoint server, int count)
    {
        var clients = new List<Socket>(count);
        try
        {
            for (var i = 0; i < count; i++)
            {
                var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                clients.Add(client);
                await client.ConnectAsync(server);
            }
            Console.Out.WriteLine($"held {clients.Count}");
            Console.Out.Flush();
            while (await Console.In.ReadLineAsync() is not null)
            {
            }
            return 0;
        }
        finally
        {
            foreach (var client in clients)
            {
                // A reset, not a FIN: no TIME_WAIT left behind.
                client.LingerState = new LingerOption(true, 0);
                client.Dispose();
            }
        }
    }

    /// <summary>
    /// Starts this program in its <c>hold</c> mode, through its apphost or through dotnet when run as a dll; in the
    /// network namespace <paramref name="netns"/> (a path such as /proc/PID/ns/net, entered with nsenter) when given.
    /// </summary>
    public static Process Start(IPEndPoint server, int count, string? netns = null)
    {
        var start = new ProcessStartInfo(netns is null ? Environment.ProcessPath! : "nsenter")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        if (netns is not null)
        {
            start.ArgumentList.Add($"--net={netns}");
            start.ArgumentList.Add(Environment.ProcessPath!);
        }
        if (Path.GetFileNameWithoutExtension(Environment.ProcessPath) == "dotnet")
            start.ArgumentList.Add(typeof(HeldClients).Assembly.Location);
        foreach (var argument in (string[])["hold", server.Address.ToString(), server.Port.ToString(CultureInfo.InvariantCulture), count.ToString(CultureInfo.InvariantCulture)])
            start.ArgumentList.Add(argument);
        return Process.Start(start)!;
    }
}
