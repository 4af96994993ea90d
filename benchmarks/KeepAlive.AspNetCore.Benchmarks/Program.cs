using BenchmarkDotNet.Running;
using KeepAlive.AspNetCore.Benchmarks;

// bash benchmarks/microbenchmarks.sh runs all of them; any BenchmarkDotNet argument works, e.g.
//   dotnet run -c Release --project benchmarks/KeepAlive.AspNetCore.Benchmarks -- --filter '*Held*'
// "sizes" prints the exact size of each object the library keeps per connection; "gauge-cpu CONNECTIONS" the CPU time
// of a collection of keepalive.connections, and "gauge-cpu CONNECTIONS ADDRESS CLIENTS_NETNS" the same with the server
// bound to ADDRESS and the clients in the network namespace CLIENTS_NETNS (benchmarks/gauge-remote-clients.sh);
// "hold ADDRESS PORT COUNT" is the client process of ConnectionGaugeBenchmarks.
var invariant = System.Globalization.CultureInfo.InvariantCulture;
if (args is ["sizes"])
    return await ObjectSizes.PrintAsync();
if (args is ["gauge-cpu", var connections])
    return await ConnectionGaugeBenchmarks.PrintCpuTimeAsync(int.Parse(connections, invariant), collections: 200);
if (args is ["gauge-cpu", var remoteConnections, var address, var clientsNetns])
    return await ConnectionGaugeBenchmarks.PrintCpuTimeAsync(int.Parse(remoteConnections, invariant), collections: 200, System.Net.IPAddress.Parse(address), clientsNetns);
if (args is ["hold", var serverAddress, var port, var count])
    return await HeldClients.RunAsync(new System.Net.IPEndPoint(System.Net.IPAddress.Parse(serverAddress), int.Parse(port, invariant)), int.Parse(count, invariant));
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
return 0;
