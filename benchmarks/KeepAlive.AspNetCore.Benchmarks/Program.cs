using BenchmarkDotNet.Running;
using KeepAlive.AspNetCore.Benchmarks;

// bash benchmarks/microbenchmarks.sh runs all of them; any BenchmarkDotNet argument works, e.g.
//   dotnet run -c Release --project benchmarks/KeepAlive.AspNetCore.Benchmarks -- --filter '*Held*'
// "sizes" prints the exact size of each object the library keeps per connection.
if (args is ["sizes"])
    return await ObjectSizes.PrintAsync();
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
return 0;
