using System.IO.Pipelines;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;

namespace KeepAlive.AspNetCore.Benchmarks;

/// <summary>
/// The exact size of each object the library keeps per connection, for docs/benchmarks.md:
/// <c>dotnet run -c Release --project benchmarks/KeepAlive.AspNetCore.Benchmarks -- sizes</c>.
/// The library's types are internal: their sizes are read by allocating an uninitialized instance by
/// name (reflection; a renamed type fails here with its name), the pending read's state machine through
/// the public path, as Kestrel makes it.
/// </summary>
internal static class ObjectSizes
{
    public static async Task<int> PrintAsync()
    {
        var library = typeof(KeepAliveOptions).Assembly;
        var wrapper = SizeOf(library, "KeepAlive.AspNetCore.KeepAliveConnection");
        var reader = SizeOf(library, "KeepAlive.AspNetCore.KeepAliveConnectionInput");
        Console.WriteLine($"KeepAliveConnection (the ConnectionContext handed to Kestrel): {wrapper} B");
        Console.WriteLine($"KeepAliveConnectionInput (the PipeReader decorator, made on Kestrel's first read): {reader} B");
        var writer = SizeOf(library, "KeepAlive.AspNetCore.KeepAliveConnectionOutput");
        Console.WriteLine($"KeepAliveConnectionOutput (the PipeWriter decorator, made on Kestrel's first write): {writer} B");

        await using var plain = await LoopbackListener.BindAsync(withPolicy: false);
        await using var policy = await LoopbackListener.BindAsync(withPolicy: true);
        var plainRead = await PendingReadBytesAsync(plain);
        var policyRead = await PendingReadBytesAsync(policy);
        Console.WriteLine($"a pending read (an idle connection between requests), plain transport: {plainRead} B");
        Console.WriteLine($"a pending read through the decorator (which hands its continuation to the transport's pipe as is): {policyRead} B");
        Console.WriteLine($"held per idle connection: {wrapper + reader + writer + policyRead - plainRead} B");
        return 0;
    }

    private static readonly Action s_nothing = () => { };

    private static long SizeOf(Assembly assembly, string name)
    {
        var type = assembly.GetType(name, throwOnError: false)
            ?? throw new InvalidOperationException($"{name} is not in {assembly.GetName().Name}: the library changed; update ObjectSizes.");
        RuntimeHelpers.GetUninitializedObject(type); // once first: type loading may allocate
        var before = GC.GetAllocatedBytesForCurrentThread();
        var instance = RuntimeHelpers.GetUninitializedObject(type);
        var size = GC.GetAllocatedBytesForCurrentThread() - before;
        GC.KeepAlive(instance);
        return size;
    }

    // Bytes allocated by starting a read that stays pending and awaiting it, as Kestrel does. Two
    // connections, both read on one new thread: the first read compiles everything and sets the thread up
    // (its thread statics), and stays pending; the second read is the measured one.
    private static async Task<long> PendingReadBytesAsync(LoopbackListener listener)
    {
        var connections = new List<(Socket Client, ConnectionContext Server)>();
        for (var i = 0; i < 2; i++)
        {
            var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            client.Connect(listener.EndPoint);
            var server = await listener.Listener.AcceptAsync() ?? throw new InvalidOperationException("The listener was unbound.");
            _ = server.Transport.Input; // as Kestrel does when it starts serving the connection
            connections.Add((client, server));
        }

        var reads = new ValueTask<ReadResult>[2];
        long bytes = 0;
        var thread = new Thread(() =>
        {
            reads[0] = connections[0].Server.Transport.Input.ReadAsync();
            reads[0].GetAwaiter().UnsafeOnCompleted(s_nothing);
            var before = GC.GetAllocatedBytesForCurrentThread();
            reads[1] = connections[1].Server.Transport.Input.ReadAsync();
            reads[1].GetAwaiter().UnsafeOnCompleted(s_nothing);
            bytes = GC.GetAllocatedBytesForCurrentThread() - before;
        });
        thread.Start();
        thread.Join();

        for (var i = 0; i < 2; i++)
        {
            if (reads[i].IsCompleted)
                throw new InvalidOperationException("A read completed: the connection is not idle.");
            connections[i].Server.Transport.Input.CancelPendingRead();
            await reads[i];
            await connections[i].Server.DisposeAsync();
            connections[i].Client.Dispose();
        }
        return bytes;
    }
}
