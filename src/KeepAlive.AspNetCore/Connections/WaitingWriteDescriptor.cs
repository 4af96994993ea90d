using System.Net.Sockets;

namespace KeepAlive.AspNetCore;

/// <summary>
/// The duplicate of a connection's socket descriptor (<see cref="SocketDescriptor"/>) that it holds while a write waits
/// for the peer: closed exactly once, and never read once closed, whichever of the waiting write's end, the connection's
/// end and a verdict's read come first or at once. A number closed twice could close what the process opened in between
/// under that number (a new client's socket); one read after closing could read another socket's TCP_INFO.
/// </summary>
/// <remarks>
/// One field: 0 (none), the number held, or its negative while a reader uses it. A reader swaps the number for its
/// negative, reads, and swaps it back; a release meanwhile leaves 0, so the reader finds its mark gone and closes the
/// number itself. The mark is unique: the kernel gives no other descriptor that number while it is open.
/// </remarks>
internal struct WaitingWriteDescriptor
{
    private int _descriptor;

    /// <summary>Duplicates <paramref name="socket"/>'s descriptor unless one is held already.</summary>
    public void Hold(Socket socket)
    {
        if (Volatile.Read(ref _descriptor) != 0)
            return;
        var duplicate = SocketDescriptor.Duplicate(socket);
        if (duplicate.IsValid && Interlocked.CompareExchange(ref _descriptor, duplicate.Number, 0) != 0)
            duplicate.Close(); // another write held one first, or a reader has it: this one is not needed
    }

    /// <summary>Lets the duplicate go; <see langword="true"/> if this call was the one to close it.</summary>
    public bool Release()
    {
        var descriptor = Interlocked.Exchange(ref _descriptor, 0);
        // Negative: a reader has it, and closes it when done.
        if (descriptor <= 0)
            return false;
        new SocketDescriptor(descriptor).Close();
        return true;
    }

    /// <summary>Reads TCP_INFO through the duplicate; <see langword="false"/> when none is held or another read has it.</summary>
    public bool TryReadTcpInfo(out TcpConnectionInfo info) => TryReadTcpInfo(out info, out _);

    /// <inheritdoc cref="TryReadTcpInfo(out TcpConnectionInfo)"/>
    /// <param name="info">What the kernel said.</param>
    /// <param name="closed">Whether this call was the one to close the duplicate: it was released during the read.</param>
    public bool TryReadTcpInfo(out TcpConnectionInfo info, out bool closed)
    {
        info = default;
        closed = false;
        var descriptor = Volatile.Read(ref _descriptor);
        if (descriptor <= 0 || Interlocked.CompareExchange(ref _descriptor, -descriptor, descriptor) != descriptor)
            return false;
        var read = TcpConnectionInfo.TryRead(new SocketDescriptor(descriptor), out info);
        if (Interlocked.CompareExchange(ref _descriptor, descriptor, -descriptor) != -descriptor)
        {
            new SocketDescriptor(descriptor).Close();
            closed = true;
        }
        return read;
    }
}
