using BenchmarkDotNet.Running;
using KeepAlive.AspNetCore.Benchmarks;

// bash benchmarks/microbenchmarks.sh runs all of them; any BenchmarkDotNet argument works, e.g.
//   dotnet run -c Release --project benchmarks/KeepAlive.AspNetCore.Benchmarks -- --filter '*Held*'
// "sizes" prints the exact size of each object the library keeps per connection; "gauge-cpu CONNECTIONS" the CPU time
// of a collection of keepalive.connections; "hold PORT COUNT" is the client process of ConnectionGaugeBenchmarks.
if (args is ["sizes"])
    return await ObjectSizes.PrintAsync();
if (args is ["gauge-cpu", var connections])
    return await ConnectionGaugeBenchmarks.PrintCpuTimeAsync(int.Parse(connections, System.Globalization.CultureInfo.InvariantCulture), collections: 200);
if (args is ["hold", var port, var count])
    return await HeldClients.RunAsync(int.Parse(port, System.Globalization.CultureInfo.InvariantCulture), int.Parse(count, System.Globalization.CultureInfo.InvariantCulture));
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
return 0;
