using System.Reflection;
using Microsoft.Extensions.Logging;

namespace KeepAlive.AspNetCore.Tests;

/// <summary>
/// Event ids are what operators filter and alert on: each of the library's events has its own id and name, kept
/// stable across files (two engineers once gave two different events id 8).
/// </summary>
public class LogEventIdTests
{
    [Fact]
    public void Every_log_event_has_an_id_and_a_name_of_its_own()
    {
        var events = typeof(KeepAliveOptions).Assembly.GetTypes()
            .SelectMany(t => t.GetMethods(BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly))
            .Select(m => m.GetCustomAttribute<LoggerMessageAttribute>())
            .OfType<LoggerMessageAttribute>()
            .ToList();

        Assert.True(events.Count >= 10, $"Found only {events.Count} events.");
        Assert.Empty(events.GroupBy(e => e.EventId).Where(g => g.Count() > 1).Select(g => $"{g.Key}: {string.Join(", ", g.Select(e => e.EventName))}"));
        Assert.Empty(events.GroupBy(e => e.EventName).Where(g => g.Count() > 1).Select(g => g.Key));
        Assert.All(events, e => Assert.False(string.IsNullOrEmpty(e.EventName)));
    }
}
