using System.Globalization;
using KeepAlive.AspNetCore.Outage;

// The outage of Faults/OutageTests at scale: N idle event streams (10,000 by default) cut off at once,
// reclaimed by the keepalive policy, then N clients reconnecting from a new address. Prints the time to
// reclaim and the server's memory. Run it with `bash benchmarks/outage.sh [N]`, which makes the private
// network namespace and raises the descriptor limit.
//
//   KeepAlive.AspNetCore.Outage [--connections N] [--policy on|off] [--watch SECONDS]
//   KeepAlive.AspNetCore.Outage scale [--connections N] [--mixed] [--policy on|off]   (ScaleBenchmark: bash benchmarks/scale.sh)
//   KeepAlive.AspNetCore.Outage clients        (the client process, started by the above)

if (args is ["clients"])
    return await ClientProcess.RunAsync();
if (args is ["scale", .. var scaleArgs])
{
    var scale = new ScaleOptions();
    for (var i = 0; i < scaleArgs.Length; i++)
    {
        switch (scaleArgs[i])
        {
            case "--connections" when i + 1 < scaleArgs.Length:
                scale.Connections = int.Parse(scaleArgs[++i], CultureInfo.InvariantCulture);
                break;
            case "--mixed":
                scale.Mixed = true;
                break;
            case "--policy" when i + 1 < scaleArgs.Length:
                scale.Policy = ParsePolicy(scaleArgs[++i]);
                break;
            default:
                Console.Error.WriteLine($"Unknown argument '{scaleArgs[i]}'. Usage: scale [--connections N] [--mixed] [--policy on|off]");
                return 2;
        }
    }
    return await ScaleBenchmark.RunAsync(scale);
}

var options = new OutageOptions();
for (var i = 0; i < args.Length; i++)
{
    switch (args[i])
    {
        case "--connections" when i + 1 < args.Length:
            options.Connections = int.Parse(args[++i], CultureInfo.InvariantCulture);
            break;
        case "--policy" when i + 1 < args.Length:
            options.Policy = ParsePolicy(args[++i]);
            break;
        case "--watch" when i + 1 < args.Length:
            options.Watch = TimeSpan.FromSeconds(int.Parse(args[++i], CultureInfo.InvariantCulture));
            break;
        default:
            Console.Error.WriteLine($"Unknown argument '{args[i]}'. Usage: [--connections N] [--policy on|off] [--watch SECONDS]");
            return 2;
    }
}

return await OutageBenchmark.RunAsync(options);

static bool ParsePolicy(string value) => value switch
{
    "on" => true,
    "off" => false,
    var other => throw new ArgumentException($"--policy is on or off, not '{other}'."),
};
