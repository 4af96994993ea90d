using System.Reflection;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace KeepAlive.AspNetCore.Tests;

/// <summary>
/// The abort reasons the causes turn on are Kestrel's own strings (CoreStrings, not localized): a Kestrel that reworded
/// one would make a stalled reader's or a ping timer's end read as the application's, and go uncounted.
/// </summary>
public class AbortOriginTests
{
    [Theory]
    [InlineData("ConnectionTimedBecauseResponseMininumDataRateNotSatisfied", true, false)]
    [InlineData("ConnectionAbortedByApplication", false, true)]
    [InlineData("ConnectionTimedOutByServer", false, false)]
    public void Kestrels_abort_reasons_are_told_apart(string coreString, bool minimumDataRate, bool applicationAbort)
    {
        var reason = new ConnectionAbortedException(KestrelCoreString(coreString));

        Assert.Equal(minimumDataRate, AbortOrigin.IsMinimumResponseDataRate(reason));
        Assert.Equal(applicationAbort, AbortOrigin.IsApplicationAbort(reason));
    }

    [Fact]
    public void No_reason_is_neither() =>
        Assert.False(AbortOrigin.IsMinimumResponseDataRate(null) || AbortOrigin.IsApplicationAbort(null));

    private static string KestrelCoreString(string name)
    {
        var coreStrings = typeof(KestrelServerOptions).Assembly.GetType("Microsoft.AspNetCore.Server.Kestrel.Core.CoreStrings", throwOnError: true)!;
        var property = coreStrings.GetProperty(name, BindingFlags.Static | BindingFlags.NonPublic | BindingFlags.Public)
            ?? throw new InvalidOperationException($"Kestrel's CoreStrings has no {name}.");
        return (string)property.GetValue(null)!;
    }
}
