using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace KeepAlive.AspNetCore;

/// <summary>
/// A file descriptor of a socket's own, duplicated from it (Linux): the kernel's socket lives until every descriptor
/// of it is closed, so TCP_INFO stays readable through this one after the transport disposed its <see cref="Socket"/>.
/// Kestrel's socket transport closes its socket before it fails the output when a send meets the kernel's verdict, so
/// a connection whose write waits for its peer keeps one of these while it waits (<see cref="WaitingWriteDescriptor"/>).
/// </summary>
/// <remarks>
/// A struct over the descriptor number (0: none; a process's descriptor 0 is never a socket Kestrel accepted).
/// <see cref="SafeHandle.DangerousAddRef"/> keeps the socket's descriptor from being closed, and its number reused,
/// while it is duplicated; holding that reference longer is not an option: <see cref="Socket.Dispose()"/> waits for it.
/// The duplicate is close-on-exec, as .NET opens every socket: a child process must not inherit a client's connection.
/// </remarks>
internal readonly partial struct SocketDescriptor(int descriptor)
{
    // include/uapi/asm-generic/fcntl.h: F_DUPFD_CLOEXEC, and FD_CLOEXEC for F_GETFD.
    private const int FDupFdCloexec = 1030;

    public bool IsValid => descriptor > 0;

    /// <summary>The descriptor number.</summary>
    public int Number => descriptor;

    /// <summary>A close-on-exec duplicate of <paramref name="socket"/>'s descriptor, or an invalid one (not Linux, closed, out of descriptors).</summary>
    public static SocketDescriptor Duplicate(Socket socket)
    {
        if (!OperatingSystem.IsLinux())
            return default;
        SafeSocketHandle handle;
        try
        {
            handle = socket.SafeHandle;
        }
        catch (ObjectDisposedException)
        {
            return default;
        }
        var added = false;
        try
        {
            handle.DangerousAddRef(ref added);
            var duplicate = Fcntl((int)handle.DangerousGetHandle(), FDupFdCloexec, 0);
            return new SocketDescriptor(duplicate > 0 ? duplicate : 0);
        }
        catch (ObjectDisposedException)
        {
            return default;
        }
        finally
        {
            if (added)
                handle.DangerousRelease();
        }
    }

    /// <summary>getsockopt on this descriptor; <paramref name="length"/> is how much the kernel wrote.</summary>
    public unsafe bool TryGetOption(int level, int name, Span<byte> value, out int length)
    {
        length = 0;
        if (!IsValid)
            return false;
        var size = (uint)value.Length;
        fixed (byte* pointer = value)
        {
            if (GetSockOpt(descriptor, level, name, pointer, ref size) != 0)
                return false;
        }
        length = (int)size;
        return true;
    }

    /// <summary>Closes the descriptor; <see langword="false"/> if it was not open (closed already, or never valid).</summary>
    public bool Close() => IsValid && CloseDescriptor(descriptor) == 0;

    // fcntl is variadic in C; its third argument is an int for F_DUPFD_CLOEXEC, which the x64 and arm64 Linux calling
    // conventions pass as they pass a fixed one.
    [LibraryImport("libc", EntryPoint = "fcntl", SetLastError = true)]
    private static partial int Fcntl(int descriptor, int command, int argument);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    private static partial int CloseDescriptor(int descriptor);

    [LibraryImport("libc", EntryPoint = "getsockopt", SetLastError = true)]
    private static unsafe partial int GetSockOpt(int descriptor, int level, int name, byte* value, ref uint length);
}
