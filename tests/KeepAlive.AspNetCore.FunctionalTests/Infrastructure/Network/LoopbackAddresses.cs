using System.Net;

namespace KeepAlive.AspNetCore.FunctionalTests.Infrastructure.Network;

/// <summary>
/// Hands each vanishing client its own source address, 127.0.0.2 and up (the server listens on
/// 127.0.0.1), so a drop rule for one test's client never hits another test's connections.
/// </summary>
internal static class LoopbackAddresses
{
    private static int _last = 1;

    public static IPAddress Next()
    {
        var last = Interlocked.Increment(ref _last);
        if (last > 254)
            throw new InvalidOperationException("More than 253 vanishing clients in one run; 127.0.0.2-254 are used up.");
        return new IPAddress([127, 0, 0, (byte)last]);
    }
}
