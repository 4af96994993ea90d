using System.Net.Sockets;

namespace KeepAlive.AspNetCore.FunctionalTests.Infrastructure.Network;

/// <summary>A process's open file descriptors as <c>/proc/PID/fd</c> lists them: what each names (<c>socket:[inode]</c>, a path).</summary>
internal static class OpenDescriptors
{
    /// <summary>What each open descriptor of process <paramref name="pid"/> names.</summary>
    public static List<string> Of(int pid) =>
        Directory.GetFiles($"/proc/{pid}/fd").Select(Target).OfType<string>().ToList();

    /// <summary>The kernel socket behind <paramref name="socket"/>, as <c>socket:[inode]</c>: it stays the same for every descriptor of it.</summary>
    public static string KernelSocket(Socket socket) =>
        Target($"/proc/self/fd/{(int)socket.Handle}") ?? throw new InvalidOperationException("The socket is closed.");

    /// <summary>How many of this process's descriptors name <paramref name="kernelSocket"/>.</summary>
    public static int Naming(string kernelSocket) =>
        Directory.GetFiles("/proc/self/fd").Count(path => Target(path) == kernelSocket);

    // Null for a descriptor closed while listed.
    private static string? Target(string path)
    {
        try
        {
            return new FileInfo(path).LinkTarget;
        }
        catch (IOException)
        {
            return null;
        }
    }
}
