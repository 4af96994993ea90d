namespace KeepAlive.AspNetCore;

/// <summary>
/// The TCP connections open under the app's policies, for reloads to reach them and for the gauge and the connection
/// view to read them: a list linked through the connections themselves (<see cref="KeepAliveConnection.Previous"/>,
/// <see cref="KeepAliveConnection.Next"/>), so tracking one costs no allocation.
/// </summary>
internal sealed class OpenConnections
{
    private readonly Lock _lock = new();
    private KeepAliveConnection? _first;

    /// <summary>
    /// Tracks an open connection and gives it the policy in force now: a reload that took its snapshot of the open
    /// connections after the connection got its policy, but before it was linked, cannot miss it (see <see cref="Swap"/>).
    /// </summary>
    public void Add(KeepAliveConnection connection)
    {
        lock (_lock)
        {
            connection.Next = _first;
            if (_first is not null)
                _first.Previous = connection;
            _first = connection;
        }
        connection.ReapplyPolicy();
    }

    public void Remove(KeepAliveConnection connection)
    {
        lock (_lock)
        {
            if (connection.Previous is null && _first != connection)
                return; // removed already
            if (connection.Previous is not null)
                connection.Previous.Next = connection.Next;
            else
                _first = connection.Next;
            if (connection.Next is not null)
                connection.Next.Previous = connection.Previous;
            connection.Previous = connection.Next = null;
        }
    }

    /// <summary>How many are open now.</summary>
    public int Count
    {
        get
        {
            lock (_lock)
            {
                var count = 0;
                for (var c = _first; c is not null; c = c.Next)
                    count++;
                return count;
            }
        }
    }

    /// <summary>
    /// Copies the open connections into <paramref name="destination"/>, as many as fit, and returns how many are open:
    /// more than fit means the caller should retry with room for that many. Only pointers are copied under the lock, so
    /// a caller that reads each connection's TCP_INFO does those system calls after it, and accepts and reloads never
    /// wait for them.
    /// </summary>
    public int CopyTo(Span<KeepAliveConnection?> destination)
    {
        lock (_lock)
        {
            var count = 0;
            for (var c = _first; c is not null; c = c.Next, count++)
            {
                if (count < destination.Length)
                    destination[count] = c;
            }
            return count;
        }
    }

    /// <summary>
    /// Runs <paramref name="change"/> (a reload putting new policies in force) under the lock that links connections, and
    /// returns the connections open then: each one either is among them, or is linked after the change and reads the new
    /// policies itself (<see cref="Add"/>).
    /// </summary>
    public List<KeepAliveConnection> Swap(Action change)
    {
        lock (_lock)
        {
            change();
            var open = new List<KeepAliveConnection>();
            for (var c = _first; c is not null; c = c.Next)
                open.Add(c);
            return open;
        }
    }
}
