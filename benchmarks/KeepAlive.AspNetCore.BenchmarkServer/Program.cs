// The app the overhead and dead-peer benchmarks measure. The same app twice, told apart by one switch:
//
//   --variant plain       Kestrel as is
//   --variant keepalive   plus builder.UseKeepAlivePolicy(): the "KeepAlive" section, i.e. the library's
//                         defaults, or what the command line sets (--KeepAlive:Idle=00:00:01 ...)
//
// Endpoints:
//   GET /plaintext         "Hello, World!" (13 bytes): the throughput endpoint, as cheap as a response gets,
//                          so any per-connection or per-request cost of the library shows as much as it can
//   GET /events?everyMs=N  a stream: one event at once, then one every N ms (0: none, an idle stream). When it
//                          ends it prints "stream-ended client=<X-Client header or remote> t=<monotonic ns>"
//                          for the dead-peer comparison (nginx in front sets X-Client)
//   GET /memory            managed heap after full blocking collections, and the working set, as JSON
//   GET /allocated         bytes allocated on the managed heap since the start (all threads), as text
//
// Run it built in Release: see docs/benchmarks.md and the scripts next to this project.
using System.Diagnostics;
using System.Text;

var builder = WebApplication.CreateBuilder(args);

var variant = builder.Configuration["variant"] ?? "plain";
switch (variant)
{
    case "plain":
        break;
    case "keepalive":
        builder.UseKeepAlivePolicy();
        break;
    default:
        Console.Error.WriteLine($"--variant must be plain or keepalive, not '{variant}'.");
        return 2;
}

// Nothing logged per request or per connection (the default Information level logs every request),
// except the library's one startup line, which shows the policy in force.
builder.Logging.ClearProviders();
builder.Logging.AddSimpleConsole(o => o.SingleLine = true);
builder.Logging.SetMinimumLevel(LogLevel.Warning);
builder.Logging.AddFilter("KeepAlive.AspNetCore", LogLevel.Information);

// Idle connections held for the memory benchmark must outlive a slow run on a busy machine; the same for both variants.
builder.WebHost.ConfigureKestrel(kestrel => kestrel.Limits.KeepAliveTimeout = TimeSpan.FromMinutes(10));

var app = builder.Build();

var hello = "Hello, World!"u8.ToArray();
app.MapGet("/plaintext", (HttpContext context) =>
{
    context.Response.ContentType = "text/plain";
    context.Response.ContentLength = hello.Length;
    return context.Response.Body.WriteAsync(hello).AsTask();
});

app.MapGet("/events", async (int? everyMs, HttpContext context) =>
{
    var client = context.Request.Headers["X-Client"] is { Count: > 0 } forwarded
        ? forwarded.ToString()
        : $"{context.Connection.RemoteIpAddress}:{context.Connection.RemotePort}";
    var aborted = context.RequestAborted;
    var every = TimeSpan.FromMilliseconds(everyMs ?? 0);
    context.Response.ContentType = "text/event-stream";
    var how = "aborted";
    try
    {
        for (var n = 0; ; n++)
        {
            await context.Response.Body.WriteAsync(Encoding.ASCII.GetBytes($"data: {n}\n\n"), aborted);
            await context.Response.Body.FlushAsync(aborted);
            await Task.Delay(every > TimeSpan.Zero ? every : Timeout.InfiniteTimeSpan, aborted);
        }
    }
    catch (OperationCanceledException)
    {
    }
    catch (IOException ex)
    {
        how = "write failed: " + ex.Message;
    }
    finally
    {
        // Stopwatch reads CLOCK_MONOTONIC in nanoseconds on Linux, the clock of Python's time.monotonic_ns().
        Console.WriteLine($"stream-ended client={client} t={(long)(Stopwatch.GetTimestamp() * (1e9 / Stopwatch.Frequency))} how={how}");
    }
});

app.MapGet("/memory", () =>
{
    // Twice, with finalizers run in between, so connections that just closed are gone from the heap.
    GC.GetTotalMemory(forceFullCollection: true);
    GC.WaitForPendingFinalizers();
    var managed = GC.GetTotalMemory(forceFullCollection: true);
    var info = GC.GetGCMemoryInfo();
    return Results.Json(new
    {
        variant,
        managedBytes = managed,
        heapSizeBytes = info.HeapSizeBytes,
        committedBytes = info.TotalCommittedBytes,
        workingSetBytes = Environment.WorkingSet,
        gcServer = System.Runtime.GCSettings.IsServerGC,
        processorCount = Environment.ProcessorCount,
    });
});

app.MapGet("/allocated", () => GC.GetTotalAllocatedBytes(precise: true).ToString(System.Globalization.CultureInfo.InvariantCulture));

app.Lifetime.ApplicationStarted.Register(() => Console.WriteLine($"ready variant={variant} urls={string.Join(' ', app.Urls)}"));
app.Run();
return 0;
