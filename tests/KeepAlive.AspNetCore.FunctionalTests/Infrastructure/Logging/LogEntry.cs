using Microsoft.Extensions.Logging;

namespace KeepAlive.AspNetCore.FunctionalTests.Infrastructure.Logging;

/// <summary>One entry a <see cref="LogSink"/> kept: <paramref name="Fields"/> are the structured fields, so tests need not parse messages.</summary>
internal sealed record LogEntry(string Category, LogLevel Level, EventId EventId, string Message, IReadOnlyDictionary<string, object?> Fields, Exception? Exception)
{
    /// <summary>One line, for a failure message.</summary>
    public override string ToString() =>
        $"{Level} {Category}[{EventId.Id} {EventId.Name}] {Message}" + (Exception is null ? "" : $" ({Exception.GetType().Name}: {Exception.Message})");
}
