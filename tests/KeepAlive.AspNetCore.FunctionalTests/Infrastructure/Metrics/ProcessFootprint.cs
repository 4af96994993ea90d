namespace KeepAlive.AspNetCore.FunctionalTests.Infrastructure.Metrics;

/// <summary>
/// What this process holds, for telling whether connections leaked: its open file descriptors (every
/// socket is one), its live managed objects after a full collection (every connection object Kestrel or
/// the library keeps alive is there) and its working set.
/// </summary>
/// <param name="FileDescriptorKinds">The open descriptors by kind (<c>socket</c>, <c>pipe</c>, <c>anon_inode:[eventpoll]</c>, a file's path), to show what changed.</param>
/// <param name="ObjectHeapBytes">
/// Live bytes in the generations and the large object heap after a full blocking collection (each one's
/// size less its fragmentation, <see cref="GC.GetGCMemoryInfo(GCKind)"/>): where a leaked connection's
/// objects would be.
/// </param>
/// <param name="PinnedHeapBytes">
/// Live bytes in the pinned object heap, which is mostly Kestrel's memory pool: a cache of 4 KiB blocks that
/// grows with the peak of concurrent reads and writes and sheds idle blocks over time (.NET 10), so it moves
/// by hundreds of KiB between two moments with the same connections (measured: 0 to +511 KiB over a clean outage).
/// </param>
/// <param name="CommittedBytes">The memory the collector holds from the OS after that collection, live or not.</param>
/// <param name="TotalMemoryBytes">
/// <see cref="GC.GetTotalMemory(bool)"/> after the same collection, for comparison only: it counts part of the
/// free space left around pinned objects in generation 0 and read from -153 KiB to 5 MiB for the same state here.
/// </param>
internal sealed record ProcessFootprint(
    int FileDescriptors, IReadOnlyDictionary<string, int> FileDescriptorKinds, long ObjectHeapBytes, long PinnedHeapBytes, long CommittedBytes, long TotalMemoryBytes, long WorkingSetBytes)
{
    private const int PinnedObjectHeap = 4; // GCMemoryInfo.GenerationInfo: gen0, gen1, gen2, LOH, POH

    /// <summary>The open descriptors less those of loaded assemblies (<c>.dll</c> files), which the runtime keeps open.</summary>
    public int FileDescriptorsBesidesAssemblies =>
        FileDescriptors - FileDescriptorKinds.Where(k => k.Key.EndsWith(".dll", StringComparison.Ordinal)).Sum(k => k.Value);

    /// <summary>The live managed heap: objects and pinned blocks.</summary>
    public long ManagedHeapBytes => ObjectHeapBytes + PinnedHeapBytes;

    /// <summary>Counts the open descriptors, then collects garbage (finalizers included) and measures the heap.</summary>
    public static ProcessFootprint Measure()
    {
        // Before any collection: a socket left for its finalizer to close is a descriptor leak in production,
        // where no one forces a collection. Listing the directory opens one descriptor for itself, every time alike.
        var kinds = new Dictionary<string, int>();
        var fds = 0;
        foreach (var fd in Directory.GetFiles("/proc/self/fd"))
        {
            fds++;
            var kind = Kind(fd);
            kinds[kind] = kinds.GetValueOrDefault(kind) + 1;
        }
        GC.Collect();
        GC.WaitForPendingFinalizers();
        // Full blocking collections until the total settles; then read what the last of them left.
        var total = GC.GetTotalMemory(forceFullCollection: true);
        var collection = GC.GetGCMemoryInfo(GCKind.FullBlocking);
        var generations = collection.GenerationInfo;
        long objects = 0, pinned = 0;
        for (var i = 0; i < generations.Length; i++)
        {
            var live = generations[i].SizeAfterBytes - generations[i].FragmentationAfterBytes;
            if (i == PinnedObjectHeap)
                pinned += live;
            else
                objects += live;
        }
        return new ProcessFootprint(fds, kinds, objects, pinned, collection.TotalCommittedBytes, total, Environment.WorkingSet);
    }

    /// <summary>The descriptors whose count differs from <paramref name="before"/>, e.g. <c>socket +578</c>.</summary>
    public string FileDescriptorChangesSince(ProcessFootprint before)
    {
        var changes = FileDescriptorKinds.Keys.Union(before.FileDescriptorKinds.Keys)
            .Select(k => (Kind: k, Change: FileDescriptorKinds.GetValueOrDefault(k) - before.FileDescriptorKinds.GetValueOrDefault(k)))
            .Where(c => c.Change != 0)
            .Select(c => $"{c.Kind} {c.Change:+0;-0}");
        return string.Join(", ", changes) is { Length: > 0 } text ? text : "none";
    }

    public override string ToString() =>
        $"{FileDescriptors} fds ({FileDescriptorKinds.GetValueOrDefault("socket")} sockets), managed heap {ManagedHeapBytes / 1024.0:F0} KiB " +
        $"(objects {ObjectHeapBytes / 1024.0:F0} KiB, pinned {PinnedHeapBytes / 1024.0:F0} KiB; GC.GetTotalMemory {TotalMemoryBytes / 1024.0:F0} KiB), " +
        $"GC committed {CommittedBytes / 1048576.0:F1} MiB, working set {WorkingSetBytes / 1048576.0:F1} MiB";

    private static string Kind(string fd)
    {
        string? target;
        try
        {
            target = new FileInfo(fd).LinkTarget;
        }
        catch (IOException)
        {
            // Closed while listing (the listing's own descriptor, or another thread's).
            return "closed while listed";
        }
        // socket:[1234], pipe:[1234]: the kind without the inode; anon_inode:[eventpoll] and paths as they are.
        return target switch
        {
            null => "unknown",
            _ when target.StartsWith("socket:", StringComparison.Ordinal) => "socket",
            _ when target.StartsWith("pipe:", StringComparison.Ordinal) => "pipe",
            _ => target,
        };
    }
}
