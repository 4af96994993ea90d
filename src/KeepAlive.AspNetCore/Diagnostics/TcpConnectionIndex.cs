namespace KeepAlive.AspNetCore;

/// <summary>
/// The open connections of one collection by <see cref="TcpConnectionKey"/>, to match a socket dump's replies to them:
/// a table of the 65,536 remote ports, each the head of a chain of the connections from that port, and the whole key
/// compared along it. A server's connections differ by remote port far more often than not, so most chains hold one:
/// no hash to compute, and one read in the table and one in the keys per reply, where a dictionary costs a hash and two
/// reads further apart (docs/benchmarks.md). Kept between collections, so a collection
/// allocates nothing. Not thread-safe.
/// </summary>
internal sealed class TcpConnectionIndex
{
    // Per remote port: 1 + the index last added with it; 0 for none. 256 KiB, made on first use.
    private int[]? _heads;
    // Per index: its key, and 1 + the index added before it with the same remote port (0 for none).
    private TcpConnectionKey[] _keys = [];
    private int[] _next = [];

    /// <summary>How many connections were added since <see cref="Reset"/>.</summary>
    public int Count { get; private set; }

    /// <summary>Empties the index for connections at indexes 0 to <paramref name="capacity"/> - 1.</summary>
    public void Reset(int capacity)
    {
        if (_heads is null)
            _heads = new int[ushort.MaxValue + 1];
        else
            Array.Clear(_heads);
        if (_keys.Length < capacity)
        {
            _keys = new TcpConnectionKey[capacity + capacity / 8];
            _next = new int[_keys.Length];
        }
        Count = 0;
    }

    /// <summary>
    /// Adds the connection at <paramref name="index"/>; <see langword="false"/>, with the index of the other, when a
    /// connection with the same key is there already.
    /// </summary>
    public bool TryAdd(in TcpConnectionKey key, int index, out int existing)
    {
        if (TryFind(key, out existing))
            return false;
        ref var head = ref _heads![key.RemotePort];
        _keys[index] = key;
        _next[index] = head;
        head = index + 1;
        Count++;
        return true;
    }

    /// <summary>
    /// Takes the connection at <paramref name="index"/> out: its key no longer matches (the default key, all zeros,
    /// names no connection).
    /// </summary>
    public void Remove(int index) => _keys[index] = default;

    /// <summary>The index of the connection with <paramref name="key"/>.</summary>
    public bool TryFind(in TcpConnectionKey key, out int index)
    {
        if (_heads is not null)
        {
            for (var next = _heads[key.RemotePort]; next != 0; next = _next[next - 1])
            {
                if (_keys[next - 1] == key)
                {
                    index = next - 1;
                    return true;
                }
            }
        }
        index = -1;
        return false;
    }
}
