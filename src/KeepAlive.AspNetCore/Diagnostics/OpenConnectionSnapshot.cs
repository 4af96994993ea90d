using System.Buffers;

namespace KeepAlive.AspNetCore;

/// <summary>
/// The open connections at one moment, copied into a pooled array under the list's lock and read after it:
/// accepts, closes and reloads wait for a pointer copy per connection, never for the TCP_INFO system calls of a
/// collection or of the connection view. Dispose returns the array, cleared, so it keeps no connection alive.
/// </summary>
internal readonly struct OpenConnectionSnapshot : IDisposable
{
    private readonly KeepAliveConnection?[] _array;

    private OpenConnectionSnapshot(KeepAliveConnection?[] array, int count)
    {
        _array = array;
        Count = count;
    }

    public int Count { get; }

    public ReadOnlySpan<KeepAliveConnection> Connections => _array.AsSpan(0, Count)!;

    /// <summary>Copies <paramref name="open"/>; <paramref name="expected"/> sizes the first try.</summary>
    public static OpenConnectionSnapshot Take(OpenConnections open, int expected)
    {
        var array = ArrayPool<KeepAliveConnection?>.Shared.Rent(Math.Max(expected, 16));
        int count;
        // Connections opened between sizing and copying: retry with room for them and some more.
        while ((count = open.CopyTo(array)) > array.Length)
        {
            Return(array, array.Length);
            array = ArrayPool<KeepAliveConnection?>.Shared.Rent(count + count / 8);
        }
        return new OpenConnectionSnapshot(array, count);
    }

    public void Dispose()
    {
        if (_array is not null)
            Return(_array, Count);
    }

    private static void Return(KeepAliveConnection?[] array, int used)
    {
        array.AsSpan(0, Math.Min(used, array.Length)).Clear();
        ArrayPool<KeepAliveConnection?>.Shared.Return(array);
    }
}
