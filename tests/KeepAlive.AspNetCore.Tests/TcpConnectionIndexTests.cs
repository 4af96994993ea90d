using System.Net;

namespace KeepAlive.AspNetCore.Tests;

/// <summary>
/// The index a collection matches the socket dump's replies with: every connection found by its whole key, including
/// connections from one remote port (other addresses), none found by a key it does not hold, a second connection with
/// one key refused, and nothing left over from the collection before.
/// </summary>
public class TcpConnectionIndexTests
{
    [Fact]
    public void Connections_are_found_by_their_whole_key_whatever_they_share()
    {
        var index = new TcpConnectionIndex();
        index.Reset(4);
        TcpConnectionKey[] keys =
        [
            Key("127.0.0.1", 5000, "127.0.0.1", 40_000),
            // The same remote port from other addresses, and to another local port: one chain, told apart by the rest.
            Key("127.0.0.1", 5000, "10.0.0.7", 40_000),
            Key("::1", 5000, "::1", 40_000),
            Key("127.0.0.1", 5001, "127.0.0.1", 40_000),
        ];
        for (var i = 0; i < keys.Length; i++)
            Assert.True(index.TryAdd(keys[i], i, out _));

        Assert.Equal(4, index.Count);
        for (var i = 0; i < keys.Length; i++)
        {
            Assert.True(index.TryFind(keys[i], out var found));
            Assert.Equal(i, found);
        }
        Assert.False(index.TryFind(Key("127.0.0.1", 5000, "10.0.0.8", 40_000), out _));
        Assert.False(index.TryFind(Key("127.0.0.1", 5000, "127.0.0.1", 40_001), out _));
    }

    [Fact]
    public void A_second_connection_with_one_key_is_refused_naming_the_first_and_a_removed_one_is_no_longer_found()
    {
        var index = new TcpConnectionIndex();
        index.Reset(3);
        var key = Key("127.0.0.1", 5000, "127.0.0.1", 40_000);
        Assert.True(index.TryAdd(key, 0, out _));
        Assert.True(index.TryAdd(Key("127.0.0.1", 5000, "127.0.0.2", 40_000), 1, out _));

        Assert.False(index.TryAdd(key, 2, out var existing));
        Assert.Equal(0, existing);

        index.Remove(existing);
        Assert.False(index.TryFind(key, out _));
        Assert.True(index.TryFind(Key("127.0.0.1", 5000, "127.0.0.2", 40_000), out var other));
        Assert.Equal(1, other);
    }

    [Fact]
    public void A_reset_forgets_the_collection_before_and_makes_room_for_more()
    {
        var index = new TcpConnectionIndex();
        index.Reset(1);
        var key = Key("127.0.0.1", 5000, "127.0.0.1", 40_000);
        Assert.True(index.TryAdd(key, 0, out _));

        index.Reset(1_000);
        Assert.Equal(0, index.Count);
        Assert.False(index.TryFind(key, out _));
        Assert.True(index.TryAdd(key, 999, out _));
        Assert.True(index.TryFind(key, out var found));
        Assert.Equal(999, found);
    }

    private static TcpConnectionKey Key(string local, int localPort, string remote, int remotePort)
    {
        Assert.True(TcpConnectionKey.TryCreate(new IPEndPoint(IPAddress.Parse(local), localPort), new IPEndPoint(IPAddress.Parse(remote), remotePort), out var key));
        return key;
    }
}
